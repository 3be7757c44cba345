"""The whole journey of a new workspace user in Chromium, with no terminal after ``newsletter users add``.

The list and its subscribers are written with the store, as ``lists
create`` and ``subscribers add`` would (each start of the command-line
program costs seconds); the new user is added by the real ``newsletter users
add`` in a process of its own, and its printed link is where the journey
starts. The user is added as a *sender*: an editor may write and test an
issue but not send it to a list, and this journey ends with a send; an admin
could do it too, but would also get the users, lists and audit pages the
person has no need of.

The settings are the sample's, with ``[site] base_url`` at the public
https address: the printed link's path is opened on the local server, as the
README says to on one's own machine (and so the checks pass: an http:// base
address is an error for List-Unsubscribe). From there on only the browser is
used: choose a password, sign in, start "Godt nytår 2021" from the holiday
design, write the greeting's first words and two sections, upload an image
with its alt text and see all of it in the live preview, leave a button
without its address and fix it from the finding the editor shows, save, send
a test, send to the list after typing its name, watch the progress reach
done, and find the issue in the public archive.

Every distinct page (and the image dialog) is checked with axe-core for
serious or critical violations, and must not reach beyond the window's
width (a table scrolls inside its own region). The journey runs at a desktop
width and again at a 768 px tablet width.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from newsletter.browser import launch
from newsletter.config import load_settings
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.db import open_engine
from tests.conftest import write_project
from tests.web.admin.test_browser import serious_violations
from tests.web.serving import run_cli, serving

BASE = "https://nyhedsbrev.example.org"
PASSWORD = "tre røde busser kører til Ballerup"
USER = "marie@kommune.dk"
SLUG = "2021-01-04-godt-nytaar-2021"
PEOPLE = [f"virksomhed{number}@example.com" for number in range(5)]
# Paced, so the progress page is seen (and checked) while the send runs, about 2.5 seconds.
PACED = '[provider]\nname = "outbox"\noutbox_dir = "outbox"\nbatch_size = 1\nmessages_per_second = 2\n'
INTRO = "2020 blev et år, ingen af os havde forestillet sig. Tak fordi I holdt fast."
SECTIONS = [
    ("Et nyt år i Ballerup", "Tak for samarbejdet i 2020. Vi glæder os til et nyt år med jer."),
    ("Nytårskur på rådhuset", "Kom til nytårskur fredag den 8. januar klokken 15."),
]
# Pasted from an old campaign: http://, and long, with no place a line may break.
OLD_ADDRESS = (
    "http://www.ballerup.dk/erhverv/nyheder?id=20210104&utm_source=nyhedsbrev"
    "&utm_medium=email&utm_campaign=nytaar2021"
)
ALT = "Rådhuspladsen i Ballerup med nytårslys"
CARET_LINE = (
    "() => { const t = document.getElementById('text');"
    " return t.value.slice(0, t.selectionStart).split('\\n').length; }"
)
# How far the page reaches beyond the window, not counting what scrolls inside a region of its own.
SIDEWAYS = "() => document.documentElement.scrollWidth - window.innerWidth"

VIEWPORTS: dict[str, Any] = {
    "desktop": {"width": 1280, "height": 900},
    "tablet": {"width": 768, "height": 1024},
}


def select_words(page: Any, words: str) -> None:
    """Select ``words`` in the issue's text, as a person does with the mouse, to type over them."""
    found = page.evaluate(
        """words => { const t = document.getElementById('text'); const at = t.value.indexOf(words);
        if (at >= 0) { t.focus(); t.setSelectionRange(at, at + words.length); } return at; }""",
        words,
    )
    assert found >= 0, f"{words!r} is not in the text"


def middle(element: Any) -> float:
    """Where an element's middle is, down the page: items on one line share it."""
    box = element.bounding_box()
    return float(box["y"] + box["height"] / 2)


def messages_in(folder: Path) -> list[Any]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.rglob("*.eml"))
    ]


def set_up_project(folder: Path) -> tuple[Path, str]:
    """The project with its list and subscribers, and the new user added by the CLI; the printed link."""
    config = write_project(folder, "sqlite:///newsletter.db")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            '[provider]\nname = "outbox"\noutbox_dir = "outbox"\n', PACED
        ),
        encoding="utf-8",
    )
    engine = open_engine(load_settings(config).database_url)
    with engine.begin() as conn:
        list_store.create_list(conn, "erhverv", "Erhvervsnyt", "Nyt til virksomheder.", "da", "Ja tak.")
        for address in PEOPLE:
            subscriber_store.add_subscriber(
                conn, address, "erhverv", state="subscribed", method="manual", consent_text="Ja tak."
            )
    engine.dispose()
    added = run_cli(config, "users", "add", USER, "--role", "sender", "--name", "Marie")
    assert added.returncode == 0, added.stdout + added.stderr
    link = re.search(r"https://nyhedsbrev\.example\.org(/admin/set-password/\S+)", added.stdout)
    assert link, added.stdout
    return config, link.group(1)


@pytest.mark.browser
@pytest.mark.parametrize("viewport", VIEWPORTS.keys())
def test_a_new_user_writes_tests_sends_and_finds_an_issue_in_the_archive(
    tmp_path: Path, viewport: str
) -> None:
    config, link = set_up_project(tmp_path / "project")
    outbox = config.parent / "outbox"
    photo = tmp_path / "Rådhuspladsen.png"
    Image.new("RGB", (800, 400), (200, 30, 40)).save(photo)
    problems: list[str] = []

    def looked_at(page: Any) -> None:
        """What a user would meet on every page: no serious accessibility problem, nothing sideways."""
        problems.extend(serious_violations(page))
        beyond = page.evaluate(SIDEWAYS)
        if beyond > 0:
            problems.append(f"{page.url}: {beyond} px wider than the {viewport} window")

    with serving(config) as url, launch() as browser:
        page = browser.new_page(viewport=VIEWPORTS[viewport])

        # The printed link, then the password, then signing in.
        page.goto(url + link)
        assert page.locator("h1").inner_text() == "Vælg din adgangskode"
        looked_at(page)
        page.get_by_label("Ny adgangskode").fill(PASSWORD)
        page.get_by_label("Gentag adgangskoden").fill(PASSWORD)
        page.get_by_role("button", name="Gem adgangskoden").click()
        page.wait_for_url(re.compile(r".*/admin/login\?done=password.*"))
        assert "Adgangskoden er gemt" in page.get_by_role("status").inner_text()
        looked_at(page)
        page.get_by_label("E-mailadresse").fill(USER)
        page.get_by_label("Adgangskode").fill(PASSWORD)
        page.get_by_role("button", name="Log ind").click()
        page.wait_for_url(f"{url}/admin/")
        assert page.locator("h1").inner_text() == "Nyhedsbreve"
        menu = page.get_by_role("navigation")
        assert middle(menu.get_by_role("button", name="Log ud")) == middle(
            menu.get_by_role("link", name="Min konto")
        )
        looked_at(page)

        # A new issue from the holiday design.
        page.get_by_role("link", name="Nyt nyhedsbrev").click()
        page.wait_for_url(f"{url}/admin/issues/new")
        looked_at(page)
        page.get_by_label("Hilsen (holiday)").check()
        page.get_by_label("Emne", exact=True).fill("Godt nytår 2021")
        page.get_by_label("Preheader").fill("Nytårshilsen fra BusinessBallerup")
        page.get_by_label("Dato").fill("2021-01-04")
        page.get_by_role("button", name="Opret og skriv teksten").click()
        page.wait_for_url(f"{url}/admin/issues/{SLUG}/edit?done=created")
        assert page.locator("h1").inner_text().startswith("Redigér: Godt nytår 2021")
        looked_at(page)

        # The greeting's first words and two sections: the design's own, typed over, and one from the toolbar.
        editor = page.get_by_label("Tekst (Markdown)")
        first_render = page.locator("#frame-600").get_attribute("src")
        select_words(page, "Skriv hilsenens indledning her: et par linjer om året, der er gået.")
        page.keyboard.type(INTRO)
        (first_heading, first_text), (second_heading, second_text) = SECTIONS
        select_words(page, "Første afsnit")
        page.keyboard.type(first_heading)
        select_words(page, "Fortæl om det, der skete i året.")
        page.keyboard.type(first_text)
        page.get_by_role("toolbar").get_by_role("button", name="Afsnit").click()
        page.keyboard.type(second_heading)
        select_words(page, "Tekst i afsnittet.")
        page.keyboard.type(second_text)
        for frame in ("#frame-600", "#frame-375"):
            for words in (INTRO, first_heading, first_text, second_heading, second_text):
                page.frame_locator(frame).get_by_text(words).wait_for()
        assert page.locator("#frame-600").get_attribute("src") != first_render
        assert second_heading in page.locator("#plain-text").inner_text()
        # Both sections come before the design's greeting and signature, where they were written.
        body = editor.input_value()
        assert body.index(first_heading) < body.index(second_heading) < body.index("::: greeting")

        # An image through the dialog, with its alt text, shown in the preview.
        page.get_by_role("toolbar").get_by_role("button", name="Billede").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Billedfil").set_input_files(str(photo))
        dialog.get_by_label("Alternativ tekst").fill(ALT)
        looked_at(page)
        dialog.get_by_role("button", name="Tilføj billedet").click()
        dialog.wait_for(state="hidden")
        assert f"![{ALT}](raadhuspladsen.png)" in editor.input_value()
        for frame in ("#frame-600", "#frame-375"):
            page.frame_locator(frame).get_by_role("img", name=ALT).wait_for()

        # A button whose address is forgotten: an error by line, and the finding leads there.
        page.get_by_role("toolbar").get_by_role("button", name="Knap").click()
        editor.press("Control+End")
        finding = page.locator("#findings li").filter(has_text="Fejl")
        finding.wait_for()
        assert "'https://'" in finding.inner_text()
        # Text that does not load as an issue: the preview says so and keeps the last one that did.
        assert page.locator("#preview-state").is_visible()
        looked_at(page)
        go_to = finding.get_by_role("link")
        line = int(go_to.get_attribute("data-line") or 0)
        assert editor.input_value().splitlines()[line - 1] == "[Læs mere](https://)"
        go_to.click()
        assert page.evaluate("document.activeElement.id") == "text"
        assert page.evaluate(CARET_LINE) == line
        # The address pasted from an old page is http://: a warning, its long address wrapped in the page.
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")
        for _ in "https://":
            page.keyboard.press("Shift+ArrowLeft")
        page.keyboard.type(OLD_ADDRESS)
        warning = page.locator("#findings li").filter(has_text="Advarsel").filter(has_text=OLD_ADDRESS)
        warning.wait_for()
        assert page.locator("#findings li").filter(has_text="Fejl").count() == 0
        looked_at(page)
        select_words(page, "http://")
        page.keyboard.type("https://")
        page.locator("#findings").get_by_text("Alt i orden.").wait_for()
        button = page.frame_locator("#frame-600").get_by_role("link", name="Læs mere")
        assert button.get_attribute("href") == OLD_ADDRESS.replace("http://", "https://")
        assert page.locator("#preview-state").is_hidden()

        page.get_by_role("button", name="Gem", exact=True).click()
        page.wait_for_url(f"{url}/admin/issues/{SLUG}/edit?done=saved")
        assert f"Gemt i {SLUG}.md" in page.get_by_role("status").first.inner_text()
        looked_at(page)

        # A test to oneself: in the outbox as a [TEST] copy, and nobody on the list gets it.
        page.get_by_role("link", name="Test og send").click()
        page.wait_for_url(f"{url}/admin/issues/{SLUG}/send")
        assert page.locator("h1").inner_text() == "Test og send: Godt nytår 2021"
        assert "Alt i orden" in page.locator("#checks-heading + p").inner_text()
        looked_at(page)
        page.get_by_role("button", name=f"Send en test til mig ({USER})").click()
        page.wait_for_load_state()
        assert f"{USER}: modtaget af udbyderen" in page.get_by_role("status").inner_text()
        [test] = messages_in(outbox)
        assert (test["Subject"], test["To"]) == ("[TEST] Godt nytår 2021", USER)

        # The list, its numbers, its name typed to confirm, and the send.
        page.get_by_label("Liste", exact=True).select_option("erhverv")
        facts = page.locator("#send-panel dl.facts")
        facts.wait_for()
        assert f"{len(PEOPLE)} tilmeldte på erhverv" in facts.inner_text()
        looked_at(page)
        page.get_by_label("Skriv listens navn, erhverv, for at bekræfte").fill("erhverv")
        page.get_by_role("button", name=f"Send til {len(PEOPLE)} på erhverv").click()
        page.wait_for_url(f"{url}/admin/issues/{SLUG}/sends/erhverv")
        page.locator(".run-state").filter(has_text="Sender nu").wait_for()
        looked_at(page)
        # When the send ends the page loads once more, with the outcome and where the issue is now public.
        public = page.get_by_role("link", name="Se nyhedsbrevet i arkivet")
        public.wait_for(timeout=20_000)
        assert public.get_attribute("href") == f"{BASE}/issues/{SLUG}"
        done = page.locator(".run-state").inner_text()
        assert re.search(r"Startet af .+ \(UTC\)\. Færdig .+ \(UTC\)\.", done), done
        assert page.locator('td[data-state="sent"]').inner_text() == str(len(PEOPLE))
        assert page.locator("progress").get_attribute("value") == str(len(PEOPLE))
        looked_at(page)
        messages = messages_in(outbox)
        sent = [message for message in messages if message["Subject"] == "Godt nytår 2021"]
        assert sorted(str(message["To"]) for message in sent) == PEOPLE
        assert len(messages) == len(PEOPLE) + 1  # and the one [TEST] copy, to the user only

        # The public archive (the site's front page) lists the issue; it opens as the email reads.
        page.goto(url + "/")
        looked_at(page)
        page.get_by_role("link", name="Godt nytår 2021").click()
        page.wait_for_url(f"{url}/issues/{SLUG}")
        for words in (INTRO, first_heading, second_text):
            assert page.get_by_text(words).is_visible()
        # The email names its images at the public address; here that is this server.
        image = page.get_by_role("img", name=ALT).get_attribute("src") or ""
        assert image == f"{BASE}/issues/{SLUG}/raadhuspladsen.png"
        published = page.request.get(url + image.removeprefix(BASE))
        assert published.ok and published.headers["content-type"] == "image/png"
        looked_at(page)

    assert problems == []
