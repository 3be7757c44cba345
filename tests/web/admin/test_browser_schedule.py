"""A sender schedules a send in Chromium ("Send senere"), sees it waiting, and calls it off.

The date and time are picked in the send form's datetime-local field; the send
page with the picker and the progress page are checked with axe-core for
serious or critical violations, and the browser must report no
Content-Security-Policy violation. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.store.db import open_engine
from newsletter.store.schema import sends
from newsletter.workspace.audit import recent_entries
from tests.conftest import write_project
from tests.web.admin.test_browser import csp_reports_of, list_with_a_sender, serious_violations, sign_in
from tests.web.conftest import count
from tests.web.serving import serving

SAMPLE = "2019-12-20-tak-for-et-godt-2019"
PEOPLE = [f"modtager{number}@example.com" for number in range(4)]


@pytest.mark.browser
def test_a_sender_picks_a_time_schedules_the_send_and_calls_it_off_in_chromium(
    tmp_path: Path, database_url: str
) -> None:
    config = write_project(tmp_path / "project", database_url)
    settings = load_settings(config)
    engine = open_engine(settings.database_url)
    list_with_a_sender(engine, PEOPLE)
    problems: list[str] = []

    with serving(config) as url, launch() as browser:
        page = browser.new_page()
        csp_reports = csp_reports_of(page)
        sign_in(page, url, "lise@kommune.dk")

        page.goto(f"{url}/admin/issues/{SAMPLE}/send")
        page.get_by_label("Liste", exact=True).select_option("erhverv")
        page.wait_for_url(re.compile(r".*/send\?list=erhverv$"))
        picker = page.get_by_label("Tidspunkt (dansk tid, Europe/Copenhagen)")
        picker.wait_for()
        assert picker.get_attribute("type") == "datetime-local"
        assert "Lad feltet stå tomt for at sende nu" in page.locator("#at-hint").inner_text()
        problems += serious_violations(page)

        picker.fill("2099-12-24T08:00")
        page.get_by_label("Skriv listens navn, erhverv, for at bekræfte").fill("erhverv")
        page.get_by_role("button", name="Send til 4 på erhverv").click()
        page.wait_for_url(f"{url}/admin/issues/{SAMPLE}/sends/erhverv")
        assert (
            "Sendes automatisk 2099-12-24 08:00 (Europe/Copenhagen)"
            in page.locator(".run-state").inner_text()
        )
        problems += serious_violations(page)

        page.get_by_role("button", name="Aflys forsendelsen").click()
        page.locator(".run-state").filter(has_text="Annulleret – intet blev sendt").wait_for()
        assert page.get_by_role("button", name="Aflys forsendelsen").count() == 0
        page.close()

    with engine.connect() as conn:
        trail = [entry.action for entry in recent_entries(conn) if entry.subject == SAMPLE]
    assert trail == ["issue.schedule_cancelled", "issue.scheduled"]
    assert count(engine, sends) == 1
    assert list((settings.provider.options.outbox_dir).rglob("*.eml")) == []
    engine.dispose()
    assert problems == []
    assert csp_reports == []
