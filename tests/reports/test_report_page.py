"""The report in the workspace: the page (figures, lists, charts as SVG images), who may see it, 404s.

The browser test opens it in Chromium from the issues page, checks it with axe-core for serious
or critical violations and watches for Content-Security-Policy violations (the charts are SVG
images, so the page needs no inline style).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import pytest

from newsletter.browser import launch
from newsletter.store.db import open_engine
from newsletter.workspace import passwords
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import set_password
from tests.reports.conftest import ISSUE, OTHER_ISSUE, ScriptedSend
from tests.web.admin.test_browser import PASSWORD, csp_reports_of, serious_violations, sign_in
from tests.web.serving import serving
from tests.workspace.conftest import QUICK_HASHER

REPORT = f"/admin/issues/{ISSUE}/report"


def _user(scripted: ScriptedSend, email: str, role: str) -> None:
    engine = open_engine(scripted.settings.database_url)
    with engine.begin() as conn:
        link = invite_user(conn, email, role, actor=Actor(None, "cli:test"))
        set_password(conn, link.user, PASSWORD, actor=Actor(None, "cli:test"))


def _log_in(scripted: ScriptedSend, email: str) -> None:
    page = scripted.client.get("/admin/login").text
    token = page.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    answer = scripted.client.post(
        "/admin/login", data={"csrf_token": token, "email": email, "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text


def test_a_sender_sees_the_report_and_its_charts_an_editor_does_not(
    scripted_send: Callable[..., ScriptedSend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "HASHER", QUICK_HASHER)
    scripted = scripted_send()
    _user(scripted, "lise@kommune.dk", "sender")
    _user(scripted, "erik@kommune.dk", "editor")

    _log_in(scripted, "erik@kommune.dk")
    assert scripted.client.get(REPORT).status_code == 403
    assert scripted.client.get(f"{REPORT}/send.svg").status_code == 403
    scripted.client.cookies.clear()

    _log_in(scripted, "lise@kommune.dk")
    page = scripted.client.get(REPORT)
    assert page.status_code == 200
    assert "Leveret" in page.text and "g4@gmail.com" in page.text and "550 5.1.1 user unknown" in page.text
    for name in ("send", "events", "domains"):
        assert f'src="{REPORT}/{name}.svg"' in page.text
        image = scripted.client.get(f"{REPORT}/{name}.svg")
        assert image.status_code == 200 and image.headers["content-type"].startswith("image/svg+xml")
        assert ET.fromstring(image.text).tag == "{http://www.w3.org/2000/svg}svg"
    assert scripted.client.get(f"{REPORT}/other.svg").status_code == 404
    not_sent = scripted.client.get(f"/admin/issues/{OTHER_ISSUE}/report")
    assert not_sent.status_code == 200 and "Ingen rapport endnu" in not_sent.text
    assert scripted.client.get("/admin/issues/no-such-issue/report").status_code == 404
    assert scripted.client.get(f"/admin/issues/{OTHER_ISSUE}/report/send.svg").status_code == 404


@pytest.mark.browser
def test_the_report_page_in_chromium_is_accessible_and_needs_no_inline_style(
    scripted_send: Callable[..., ScriptedSend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(passwords, "HASHER", QUICK_HASHER)
    scripted = scripted_send()
    _user(scripted, "lise@kommune.dk", "sender")
    assert scripted.settings.path is not None
    with serving(scripted.settings.path) as url, launch() as browser:
        for width in (1280, 768):
            page = browser.new_page(viewport={"width": width, "height": 1000})
            csp_reports = csp_reports_of(page)
            sign_in(page, url, "lise@kommune.dk")
            page.get_by_role("link", name="Rapport Tak for et godt 2019").click()
            page.wait_for_url(f"{url}{REPORT}")
            assert page.locator("h1").inner_text() == "Rapport: Tak for et godt 2019"
            sent = page.get_by_role("row").filter(has_text="Leveret").first
            assert sent.inner_text().split() == ["Leveret", "9", "81.8", "%"]
            for alt in ("Søjlediagram", "Kurver", "Vandrette søjler"):
                image = page.get_by_role("img", name=alt)
                image.wait_for()
                # The image loaded and has a size: the SVG was served and drawn.
                assert image.evaluate("node => node.complete && node.naturalWidth > 0")
            assert serious_violations(page) == []
            page.close()
    assert csp_reports == []
