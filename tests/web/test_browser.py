"""A real browser (Debian's Chromium under Playwright) signs up and follows the confirmation link."""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import pytest

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.db import open_engine
from tests.conftest import write_project
from tests.web.serving import serving, wait_for_files

BASE = "https://nyhedsbrev.example.org"


@pytest.mark.browser
def test_sign_up_and_confirm_in_chromium(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    settings = load_settings(config)
    engine = open_engine(settings.database_url)
    with engine.begin() as conn:
        the_list = list_store.create_list(
            conn, "erhverv", "Erhvervsnyt", "Nyt til virksomheder.", "da", "Ja tak."
        )

    with serving(config) as url, launch() as browser:
        page = browser.new_page()
        page.goto(f"{url}/subscribe/erhverv?lang=en")
        assert page.locator("h1").inner_text() == "Erhvervsnyt"
        page.get_by_label("Your email address").fill("browser@example.com")
        page.get_by_label("Your name (optional)").fill("Bettina Browser")
        page.get_by_role("button", name="Subscribe").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Check your inbox"

        [path] = wait_for_files(settings.provider.options.outbox_dir / "confirm")
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
        link = re.search(r'href="(https://[^"]+/confirm/[^"]+)"', html)
        assert link, "the HTML part has no confirmation button link"

        page.goto(url + link.group(1).removeprefix(BASE) + "?lang=en")
        assert page.locator("h1").inner_text() == "Confirm your subscription"
        page.get_by_role("button", name="Confirm subscription").click()
        page.wait_for_load_state()
        assert page.locator("h1").inner_text() == "Thank you — you are subscribed"
        page.close()

    with engine.connect() as conn:
        person = subscriber_store.get_subscriber(conn, "browser@example.com")
        assert person is not None and person.name == "Bettina Browser"
        assert subscriber_store.membership_state(conn, person.id, the_list.id) == "subscribed"
