"""A sender tests and sends the sample issue in Chromium, and watches the progress reach done.

The provider is the outbox, paced to a few messages a second so the progress
page is seen moving (htmx asks for the numbers every two seconds) before the
send ends and the page shows the final status. The send and progress pages
are checked with axe-core for serious or critical violations, and the
browser must report no Content-Security-Policy violation.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.store.db import open_engine
from tests.conftest import write_project
from tests.web.admin.test_browser import csp_reports_of, list_with_a_sender, serious_violations, sign_in
from tests.web.serving import serving

SAMPLE = "2019-12-20-tak-for-et-godt-2019"
PEOPLE = [f"modtager{number}@example.com" for number in range(6)]
PACED = '[provider]\nname = "outbox"\noutbox_dir = "outbox"\nbatch_size = 1\nmessages_per_second = 3\n'


def messages_in(folder: Path) -> list[Any]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.rglob("*.eml"))
    ]


@pytest.mark.browser
def test_a_sender_tests_sends_and_watches_the_progress_in_chromium(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            '[provider]\nname = "outbox"\noutbox_dir = "outbox"\n', PACED
        ),
        encoding="utf-8",
    )
    settings = load_settings(config)
    engine = open_engine(settings.database_url)
    list_with_a_sender(engine, PEOPLE)
    engine.dispose()
    outbox = settings.provider.options.outbox_dir
    problems: list[str] = []

    with serving(config) as url, launch() as browser:
        page = browser.new_page()
        csp_reports = csp_reports_of(page)
        sign_in(page, url, "lise@kommune.dk")

        page.get_by_role("link", name="Test og send Tak for et godt 2019").click()
        page.wait_for_url(f"{url}/admin/issues/{SAMPLE}/send")
        assert page.locator("h1").inner_text() == "Test og send: Tak for et godt 2019"
        assert "Alt i orden" in page.locator("#checks-heading + p").inner_text()
        problems += serious_violations(page)

        page.get_by_role("button", name="Send en test til mig (lise@kommune.dk)").click()
        page.wait_for_load_state()
        assert "lise@kommune.dk: modtaget af udbyderen" in page.get_by_role("status").inner_text()
        [test] = messages_in(outbox)
        assert test["Subject"] == "[TEST] Tak for et godt 2019" and test["To"] == "lise@kommune.dk"

        # Choosing the list fetches its numbers in place (htmx), and the address says which list.
        page.get_by_label("Liste", exact=True).select_option("erhverv")
        page.wait_for_url(re.compile(r".*/send\?list=erhverv$"))
        facts = page.locator("#send-panel dl.facts")
        facts.wait_for()
        assert "6 tilmeldte på erhverv" in facts.inner_text()
        assert "outbox-mappen" in facts.inner_text()
        problems += serious_violations(page)

        page.get_by_label("Skriv listens navn, erhverv, for at bekræfte").fill("erhverv")
        page.get_by_role("button", name="Send til 6 på erhverv").click()
        page.wait_for_url(f"{url}/admin/issues/{SAMPLE}/sends/erhverv")
        assert "Sender nu" in page.locator(".run-state").inner_text()
        assert page.get_by_role("link", name="Opdatér").is_visible()  # the way without JavaScript
        problems += serious_violations(page)
        page.locator(".run-state").filter(has_text="Færdig").wait_for(timeout=20_000)
        assert page.locator('td[data-state="sent"]').inner_text() == "6"
        assert page.locator("progress").get_attribute("value") == "6"
        assert not page.get_by_role("link", name="Opdatér").is_visible()
        problems += serious_violations(page)

        page.goto(f"{url}/admin/")
        assert (
            "Sendt til erhverv"
            in page.get_by_role("row").filter(has_text="Tak for et godt 2019").inner_text()
        )
        page.close()

    sent = [message for message in messages_in(outbox) if not str(message["Subject"]).startswith("[TEST]")]
    assert sorted(str(message["To"]) for message in sent) == PEOPLE
    assert problems == []
    assert csp_reports == []
