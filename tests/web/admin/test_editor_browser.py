"""An editor writes a new issue in Chromium: New issue from the holiday design, type, watch the preview, save.

The user is made with the workspace library (as ``newsletter users add``
would, with the password already chosen). The New issue and Edit pages are
checked with axe-core for serious or critical violations, also with the
image dialog open.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.issue import load_issue
from newsletter.store.db import open_engine
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import set_password
from tests.conftest import write_project
from tests.web.admin.test_browser import serious_violations
from tests.web.serving import serving

PASSWORD = "syv grønne elefanter danser tango"
SLUG = "2021-01-04-godt-nytaar-2021"
CARET_LINE = "() => { const t = document.getElementById('text'); return t.value.slice(0, t.selectionStart).split('\\n').length; }"


@pytest.mark.browser
def test_an_editor_writes_a_new_year_greeting_in_chromium(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    settings = load_settings(config)
    with open_engine(settings.database_url).begin() as conn:
        link = invite_user(conn, "jens@kommune.dk", "editor", actor=Actor(None, "cli:test"))
        set_password(conn, link.user, PASSWORD, actor=Actor(None, "cli:test"))
    photo = tmp_path / "Fyrværkeri.jpg"
    Image.new("RGB", (2400, 1200), (20, 30, 90)).save(photo)
    problems: list[str] = []

    with serving(config) as url, launch() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/admin/login")
        page.get_by_label("E-mailadresse").fill("jens@kommune.dk")
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{url}/admin/")

        page.get_by_role("link", name="Nyt nyhedsbrev").click()
        page.wait_for_url(f"{url}/admin/issues/new")
        problems += serious_violations(page)
        page.get_by_label("Hilsen (holiday)").check()
        page.get_by_label("Emne", exact=True).fill("Godt nytår 2021")
        page.get_by_label("Dato").fill("2021-01-04")
        page.get_by_role("button", name="Opret og skriv teksten").click()
        page.wait_for_url(f"{url}/admin/issues/{SLUG}/edit?done=created")
        assert page.locator("h1").inner_text().startswith("Redigér: Godt nytår 2021")
        problems += serious_violations(page)

        # A section from the toolbar, its heading typed over the placeholder: the preview follows.
        editor = page.get_by_label("Tekst (Markdown)")
        first_document = page.locator("#frame-600").get_attribute("src")
        editor.press("Control+End")
        page.get_by_role("toolbar").get_by_role("button", name="Afsnit").click()
        page.keyboard.type("Et nyt år i Ballerup")
        page.frame_locator("#frame-600").get_by_text("Et nyt år i Ballerup").wait_for()
        page.frame_locator("#frame-375").get_by_text("Et nyt år i Ballerup").wait_for()
        assert page.locator("#frame-600").get_attribute("src") != first_document
        assert "Et nyt år i Ballerup" in page.locator("#plain-text").inner_text()

        # A finding names its line; clicking it puts the cursor on that line.
        editor.press("Control+Home")
        # The skeleton's stand-in text is an error until it is written over; the missing preheader a warning.
        assert "[unfinished-text]" in page.locator("#findings").inner_text()
        finding = page.locator("#findings li", has_text="preheader").locator("a[data-line]").first
        line = int(finding.get_attribute("data-line") or 0)
        assert line == 3
        finding.click()
        assert page.evaluate("document.activeElement.id") == "text"
        assert page.evaluate(CARET_LINE) == line

        # An image through the dialog, with its alt text: inserted at the cursor and shown in the preview.
        editor.press("Control+End")
        page.get_by_role("toolbar").get_by_role("button", name="Billede").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Billedfil").set_input_files(str(photo))
        dialog.get_by_label("Alternativ tekst").fill("Fyrværkeri over rådhuset")
        problems += serious_violations(page)
        dialog.get_by_role("button", name="Tilføj billedet").click()
        dialog.wait_for(state="hidden")
        assert "![Fyrværkeri over rådhuset](fyrvaerkeri.jpg)" in editor.input_value()
        shown = page.frame_locator("#frame-600").get_by_role("img", name="Fyrværkeri over rådhuset")
        shown.wait_for()
        assert shown.evaluate("image => image.naturalWidth") == 1200  # scaled to the email's width at 2×

        page.get_by_role("button", name="Gem", exact=True).click()
        page.wait_for_url(f"{url}/admin/issues/{SLUG}/edit?done=saved")
        assert f"Gemt i {SLUG}.md" in page.get_by_role("status").first.inner_text()
        problems += serious_violations(page)

        tablet = browser.new_page(viewport={"width": 768, "height": 1024})
        tablet.context.add_cookies(page.context.cookies())
        tablet.goto(page.url)
        assert tablet.evaluate("document.documentElement.scrollWidth") <= 768, "the editor scrolls sideways"
        problems += serious_violations(tablet)

    saved = load_issue(settings.issues_dir / f"{SLUG}.md", settings)
    assert (saved.subject, saved.template) == ("Godt nytår 2021", "holiday")
    assert [section.heading for section in saved.sections][-1] == "Et nyt år i Ballerup"
    assert (settings.issues_dir / SLUG / "fyrvaerkeri.jpg").is_file()
    assert problems == []
