"""A new user opens the workspace in Chromium: set-password link, sign-in, Issues, English, sign-out.

Every workspace page is checked with axe-core (bundled by the
axe-playwright-python package, nothing downloaded) for serious or critical
violations, at desktop width and at a 768 px tablet width.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from click.testing import CliRunner
from sqlalchemy import Engine

from newsletter.browser import launch
from newsletter.cli import main
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import set_password
from tests.conftest import write_project
from tests.web.serving import serving

BASE = "https://nyhedsbrev.example.org"
PASSWORD = "syv grønne elefanter danser tango"
AXE = Axe()


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings on the page, one line each."""
    results = AXE.run(page)
    return [
        f"{page.url}: {violation['id']} ({violation['impact']}): {violation['help']} — "
        + ", ".join(str(node["target"]) for node in violation["nodes"][:3])
        for violation in results.response["violations"]
        if violation["impact"] in ("serious", "critical")
    ]


def csp_reports_of(page: Any) -> list[str]:
    """The Content-Security-Policy complaints the page's console will show, as they come."""
    reports: list[str] = []
    page.on(
        "console",
        lambda entry: reports.append(entry.text) if "Content Security Policy" in entry.text else None,
    )
    return reports


def list_with_a_sender(engine: Engine, people: list[str], *, sender: str = "lise@kommune.dk") -> None:
    """The list "erhverv" with ``people`` subscribed, and ``sender`` a workspace sender (password :data:`PASSWORD`)."""
    with engine.begin() as conn:
        list_store.create_list(conn, "erhverv", "Erhvervsnyt", "Nyt til virksomheder.", "da", "Ja tak.")
        for address in people:
            subscriber_store.add_subscriber(
                conn, address, "erhverv", state="subscribed", method="manual", consent_text="test"
            )
        link = invite_user(conn, sender, "sender", actor=Actor(None, "cli:test"))
        set_password(conn, link.user, PASSWORD, actor=Actor(None, "cli:test"))


def sign_in(page: Any, url: str, email: str) -> None:
    """Log in to the workspace as ``email`` (password :data:`PASSWORD`) and land on its first page."""
    page.goto(f"{url}/admin/login")
    page.get_by_label("E-mailadresse").fill(email)
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{url}/admin/")


@pytest.mark.browser
def test_a_new_user_opens_the_workspace_in_chromium(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    added = CliRunner().invoke(
        main,
        ["--config", str(config), "users", "add", "nina@kommune.dk", "--role", "admin", "--name", "Nina"],
    )
    assert added.exit_code == 0, added.output
    link = re.search(r"https://\S+/admin/set-password/\S+", added.output)
    assert link, added.output
    problems: list[str] = []

    with serving(config) as url, launch() as browser:
        page = browser.new_page()
        page.goto(url + link.group(0).removeprefix(BASE))
        assert page.locator("h1").inner_text() == "Vælg din adgangskode"
        problems += serious_violations(page)
        page.get_by_label("Ny adgangskode").fill(PASSWORD)
        page.get_by_label("Gentag adgangskoden").fill(PASSWORD)
        page.get_by_role("button", name="Gem adgangskoden").click()
        page.wait_for_url(re.compile(r".*/admin/login\?done=password.*"))
        assert "Adgangskoden er gemt" in page.get_by_role("status").inner_text()
        problems += serious_violations(page)

        page.get_by_label("E-mailadresse").fill("nina@kommune.dk")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{url}/admin/")
        assert page.locator("html").get_attribute("lang") == "da"
        assert page.locator("h1").inner_text() == "Nyhedsbreve"
        sample = page.get_by_role("row").filter(has_text="Tak for et godt 2019")
        assert "Kladde" in sample.inner_text() and "holiday" in sample.inner_text()
        problems += serious_violations(page)
        for name in ("Brugere", "Revisionslog", "Lister og abonnenter", "Min konto"):
            page.get_by_role("navigation").get_by_role("link", name=name).click()
            page.wait_for_load_state()
            assert page.get_by_role("link", name=name).get_attribute("aria-current") == "page"
            problems += serious_violations(page)
        page.get_by_role("link", name="Slå to-faktor-login til").click()
        page.wait_for_load_state()
        assert page.get_by_role("img", name="QR-kode til din godkendelsesapp").is_visible()
        problems += serious_violations(page)

        # With htmx, the audit filter refreshes the entries in place (and the URL says what is shown).
        page.goto(f"{url}/admin/audit")
        page.get_by_label("Handling").select_option("login.succeeded")
        page.wait_for_url(re.compile(r".*action=login\.succeeded.*"))
        page.get_by_role("cell", name="login.succeeded").first.wait_for()
        assert page.locator("#audit-results tbody tr").count() == 1

        page.goto(f"{url}/admin/account")
        page.get_by_label("English").check()
        page.get_by_role("button", name="Gem").click()
        page.wait_for_url(re.compile(r".*/admin/account\?done=language"))
        assert page.locator("html").get_attribute("lang") == "en"
        assert page.get_by_role("status").inner_text() == "The language is saved."
        page.get_by_role("link", name="Issues").click()
        page.wait_for_url(f"{url}/admin/")
        assert page.locator("h1").inner_text() == "Issues"
        assert "Draft" in page.get_by_role("row").filter(has_text="Tak for et godt 2019").inner_text()
        page.get_by_role("button", name="Log out").click()
        page.wait_for_url(re.compile(r".*/admin/login.*"))
        assert page.locator("h1").inner_text() == "Sign in"
        page.goto(f"{url}/admin/")
        assert "/admin/login" in page.url  # signed out for real
        page.close()

        tablet = browser.new_page(viewport={"width": 768, "height": 1024})
        tablet.goto(f"{url}/admin/login?lang=da")
        problems += serious_violations(tablet)
        sign_in(tablet, url, "nina@kommune.dk")
        for path in ("/admin/", "/admin/users", "/admin/audit", "/admin/account", "/admin/lists"):
            tablet.goto(url + path)
            problems += serious_violations(tablet)
            assert tablet.evaluate("document.documentElement.scrollWidth") <= 768, f"{path} scrolls sideways"
        tablet.close()

    assert problems == []
