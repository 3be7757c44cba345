"""An admin imports an Excel workbook in Chromium: the preview, the import, the report.

The preview and report pages are checked with axe-core for serious or
critical violations at desktop width and at 768 px, and the browser must
report no Content-Security-Policy violation.
"""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.store import lists as list_store
from newsletter.store.db import open_engine
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import set_password
from tests.conftest import write_project
from tests.web.admin.test_browser import PASSWORD, csp_reports_of, serious_violations, sign_in
from tests.web.serving import serving


@pytest.mark.browser
def test_an_admin_imports_a_workbook_in_chromium(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    engine = open_engine(load_settings(config).database_url)
    with engine.begin() as conn:
        list_store.create_list(conn, "erhverv", "Erhvervsnyt", "Nyt til virksomheder.", "da", "Ja tak.")
        link = invite_user(conn, "nina@kommune.dk", "admin", actor=Actor(None, "cli:test"))
        set_password(conn, link.user, PASSWORD, actor=Actor(None, "cli:test"))
    engine.dispose()
    book = openpyxl.Workbook()
    book.active.title = "Medlemmer"
    for row in (
        ["E-mail", "Navn", "Virksomhed", "Telefon"],
        ["jens@firma.dk", "Jens Hansen", "Firma ApS", 44556677],
        ["ikke-en-adresse", "Bo", "", None],
        ["lise@firma.dk", "Lise Østergaard", "Lises Lager", None],
    ):
        book.active.append(row)
    sheet = tmp_path / "medlemmer.xlsx"
    book.save(sheet)
    problems: list[str] = []

    def check_both_widths(page: object) -> None:
        problems.extend(serious_violations(page))
        page.set_viewport_size({"width": 768, "height": 1024})  # type: ignore[attr-defined]
        problems.extend(serious_violations(page))
        page.set_viewport_size({"width": 1280, "height": 900})  # type: ignore[attr-defined]

    with serving(config) as url, launch() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        csp_reports = csp_reports_of(page)
        sign_in(page, url, "nina@kommune.dk")

        page.goto(f"{url}/admin/lists")
        page.get_by_role("link", name="Importér abonnenter til erhverv").click()
        page.wait_for_url(f"{url}/admin/lists/erhverv/import")
        page.get_by_label("Fil", exact=True).set_input_files(str(sheet))
        page.get_by_role("button", name="Læs filen").click()
        page.get_by_role("heading", name="Tjek filen, før du importerer").wait_for()
        assert "Excel-projektmappe, arket »Medlemmer«" in page.locator("dl.facts").inner_text()
        rows = page.locator("table.import-rows tbody tr")
        assert rows.count() == 3
        assert "Lise Østergaard" in rows.nth(2).inner_text()
        assert "springes over" in rows.nth(1).inner_text()
        check_both_widths(page)

        page.get_by_label("Samtykkenote", exact=True).fill("Tilmeldt på Erhvervsmessen 2019")
        page.get_by_role("button", name="Importér 2 rækker").click()
        page.locator(".run-state").filter(has_text="Færdig").wait_for(timeout=20_000)
        assert page.locator('td[data-count="added"]').inner_text() == "2"
        assert page.locator('td[data-count="rejected"]').inner_text() == "1"
        assert (
            "Række 3: 'ikke-en-adresse' er ikke en gyldig e-mailadresse – ret den i filen"
            in page.locator("ul.problems").inner_text()
        )
        check_both_widths(page)
        page.close()

    assert problems == []
    assert csp_reports == []
