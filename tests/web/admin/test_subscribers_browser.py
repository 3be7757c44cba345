"""An admin finds a subscriber in Chromium: search as you type, open them, look at the erase page.

The search, subscriber, add and erase pages are checked with axe-core for
serious or critical violations, at desktop width and at a 768 px tablet
width, where no page may scroll sideways.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.store.db import open_engine
from newsletter.store.lists import create_list
from newsletter.store.subscribers import add_subscriber
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import set_password
from tests.conftest import write_project
from tests.web.admin.test_browser import serious_violations
from tests.web.serving import serving

PASSWORD = "syv grønne elefanter danser tango"
CLI = Actor(None, "cli:test")


@pytest.mark.browser
def test_an_admin_finds_a_subscriber_in_chromium(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    with open_engine(load_settings(config).database_url).begin() as conn:
        link = invite_user(conn, "chef@kommune.dk", "admin", actor=CLI)
        set_password(conn, link.user, PASSWORD, actor=CLI)
        create_list(conn, "erhverv", "Erhvervsnyt fra Ballerup")
        for address, name in [
            ("jens.hansen@virksomhed-med-et-meget-langt-navn.dk", "Jens Hansen"),
            ("bo@oestergaard.dk", "Bo Østergaard"),
            ("mette@firma.dk", "Mette Nielsen"),
        ]:
            add_subscriber(
                conn, address, "erhverv", name=name, consent_text="Tilmeldt på Erhvervsmessen 2019"
            )
    problems: list[str] = []

    with serving(config) as url, launch() as browser:
        page = browser.new_page()
        page.goto(f"{url}/admin/login")
        page.get_by_label("E-mailadresse").fill("chef@kommune.dk")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{url}/admin/")

        page.goto(f"{url}/admin/lists")
        page.get_by_role("link", name="Søg efter en abonnent").click()
        page.wait_for_url(f"{url}/admin/subscribers")
        # With htmx the results follow the typing, and the address bar says what is shown.
        page.get_by_label("E-mailadresse eller navn").fill("østerg")
        page.wait_for_url(re.compile(r".*q=%C3%B8sterg.*"))
        results = page.locator("#subscriber-results tbody tr")
        assert results.count() == 1 and "Bo Østergaard" in results.inner_text()
        problems += serious_violations(page)

        page.get_by_role("link", name="bo@oestergaard.dk").click()
        page.wait_for_url(re.compile(r".*/admin/subscribers/\d+$"))
        assert page.locator("h1").inner_text() == "bo@oestergaard.dk"
        assert (
            "Tilmeldt på Erhvervsmessen 2019" in page.get_by_role("region", name="Samtykke-log").inner_text()
        )
        problems += serious_violations(page)
        person = page.url
        page.get_by_role("link", name="Slet personen …").click()
        page.wait_for_url(person + "/erase")
        problems += serious_violations(page)
        page.goto(f"{url}/admin/subscribers/new")
        problems += serious_violations(page)
        page.close()

        tablet = browser.new_page(viewport={"width": 768, "height": 1024})
        tablet.goto(f"{url}/admin/login")
        tablet.get_by_label("E-mailadresse").fill("chef@kommune.dk")
        tablet.get_by_label("Adgangskode").fill(PASSWORD)
        tablet.get_by_role("button", name="Log ind").click()
        tablet.wait_for_url(f"{url}/admin/")
        for where in ("/admin/lists", "/admin/subscribers?q=hansen", person.removeprefix(url)):
            tablet.goto(url + where)
            problems += serious_violations(tablet)
            assert tablet.evaluate("document.documentElement.scrollWidth") <= 768, f"{where} scrolls sideways"
        # The keyboard reaches the search field and the results from the skip link.
        tablet.goto(f"{url}/admin/subscribers")
        tablet.keyboard.press("Tab")
        tablet.keyboard.press("Enter")
        for _ in range(12):
            tablet.keyboard.press("Tab")
            if tablet.evaluate("document.activeElement.id") == "search-text":
                break
        assert tablet.evaluate("document.activeElement.id") == "search-text"
        tablet.keyboard.type("mette")
        tablet.keyboard.press("Enter")
        tablet.wait_for_url(re.compile(r".*q=mette.*"))
        assert tablet.locator("#subscriber-results tbody tr").count() == 1
        tablet.close()

    assert problems == []
