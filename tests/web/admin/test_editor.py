"""New issue and Edit in the workspace, through the app: files written, conflicts refused, drafts kept, images.

Every test acts as an *editor* (the smallest role that may draft), so the
role is shown to be enough for all of it.
"""

from __future__ import annotations

import hashlib
import html
import io
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image
from sqlalchemy import Engine

from newsletter import editing
from newsletter.cli import main
from newsletter.config import Settings
from newsletter.issue import load_issue
from newsletter.store.lists import ListRow
from newsletter.web.admin.editor import PREVIEW_CSP
from newsletter.workspace.audit import recent_entries
from tests.web.admin.conftest import csrf_of
from tests.web.admin.test_guard import assert_strict
from tests.web.conftest import AppClient, add_delivery, add_member

SignIn = Callable[..., AppClient]
SAMPLE = "2020-03-02-nyt-fra-erhvervsservice"
EDIT = f"/admin/issues/{SAMPLE}/edit"


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no hidden field {name}"
    return match.group(1)


def textarea(page: str) -> str:
    match = re.search(r'<textarea id="text"[^>]*>\n(.*?)</textarea>', page, re.S)
    assert match, "no editor in the page"
    return html.unescape(match.group(1))


def form_of(page: str, text: str) -> dict[str, str]:
    """What the editor's form posts: the text, and the versions and CSRF token the page carries."""
    return {
        "csrf_token": csrf_of(page),
        "version": hidden(page, "version"),
        "draft": hidden(page, "draft"),
        "text": text,
    }


def actions(engine: Engine, action: str) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        return [(entry.actor, entry.subject) for entry in recent_entries(conn, action=action)]


def run_cli(settings: Settings, *args: str) -> tuple[int, str]:
    assert settings.path is not None
    result = CliRunner().invoke(main, ["--config", str(settings.path), *args])
    return result.exit_code, result.output


def jpeg_with_gps(width: int = 3000, height: int = 2000) -> bytes:
    """A photo as a phone takes it: EXIF with the camera and the GPS position where it was taken."""
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"  # Make
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (55.0, 43.0, 30.0), 3: "E", 4: (12.0, 21.0, 0.0)})
    out = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(out, "JPEG", exif=exif.tobytes())
    return out.getvalue()


# --- New issue ------------------------------------------------------------------------------------


def test_new_issue_writes_a_file_that_newsletter_check_reads(
    signed_in: SignIn, settings: Settings, engine: Engine
) -> None:
    editor = signed_in("editor", "jens@kommune.dk")
    home = editor.get("/admin/")
    assert 'href="/admin/issues/new"' in home.text and f'href="{EDIT}"' in home.text
    page = editor.get("/admin/issues/new")
    assert page.status_code == 200
    for choice in (
        'value="holiday"',
        'value="newsletter"',
        'type="date"',
        'name="preheader"',
        'name="kicker"',
    ):
        assert choice in page.text
    answer = editor.post(
        "/admin/issues/new",
        data={
            "csrf_token": csrf_of(page.text),
            "template": "holiday",
            "subject": "Nyt: 50 % rabat # på 'alt'",
            "preheader": "Jul: tak for i år",
            "kicker": "- Jul i BusinessBallerup",
            "language": "da",
            "date": "2021-01-04",
        },
    )
    slug = "2021-01-04-nyt-50-rabat-paa-alt"
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/admin/issues/{slug}/edit?done=created"
    issue = load_issue(settings.issues_dir / f"{slug}.md", settings)
    assert (issue.subject, issue.preheader, issue.kicker, issue.template, issue.lang, str(issue.date)) == (
        "Nyt: 50 % rabat # på 'alt'",
        "Jul: tak for i år",
        "- Jul i BusinessBallerup",
        "holiday",
        "da",
        "2021-01-04",
    )
    # The file reads and renders: check finds only the skeleton's stand-in text, left for the author.
    code, out = run_cli(settings, "check", slug)[:2]
    findings = [line for line in out.splitlines() if line.startswith("  ")]
    assert code == 8 and findings and all("[unfinished-text]" in line for line in findings), out
    assert actions(engine, "issue.created") == [("jens@kommune.dk", slug)]
    opened = editor.get(answer.headers["location"])
    assert f"Nyhedsbrevet er oprettet som {slug}.md" in opened.text
    assert "::: greeting" in textarea(opened.text)  # the holiday design's body to start from


def test_new_issue_refuses_an_existing_slug_and_bad_fields(signed_in: SignIn, settings: Settings) -> None:
    editor = signed_in("editor")
    token = csrf_of(editor.get("/admin/issues/new").text)
    fields = {"csrf_token": token, "template": "newsletter", "language": "da", "date": "2020-03-02"}
    before = (settings.issues_dir / f"{SAMPLE}.md").read_bytes()

    taken = editor.post("/admin/issues/new", data={**fields, "subject": "Nyt fra Erhvervsservice"})
    assert taken.status_code == 409
    assert f"Der findes allerede et nyhedsbrev med filnavnet {SAMPLE}.md" in taken.text
    assert f'href="{EDIT}"' in taken.text  # a way to open it
    assert (settings.issues_dir / f"{SAMPLE}.md").read_bytes() == before

    cases = [
        ({"subject": ""}, "Skriv et emne", "subject"),
        ({"subject": "!!! ???"}, "mindst ét bogstav eller tal", "subject"),
        ({"subject": "Nyt\r\nBcc: alle@example.org"}, "Feltet Emne skal være én linje", "subject"),
        ({"subject": "Nyt", "kicker": "a\tb"}, "Feltet Overlinje (valgfri) skal være én linje", "kicker"),
        ({"subject": "Nyt", "date": "2. marts"}, "Skriv datoen som ÅÅÅÅ-MM-DD", "date"),
        ({"subject": "Nyt", "template": "julekort"}, "Vælg en skabelon fra listen", ""),
        ({"subject": "Nyt", "language": "de"}, "Vælg dansk eller engelsk", ""),
    ]
    for changed, expected, field in cases:
        answer = editor.post("/admin/issues/new", data={**fields, **changed})
        assert answer.status_code == 400, changed
        assert expected in answer.text, changed
        if field:  # the field itself is marked and points at the message
            assert re.search(
                rf'id="{field}"[^>]*aria-invalid="true" aria-describedby="{field}-help form-error"',
                answer.text,
            )
    assert sorted(p.name for p in settings.issues_dir.glob("*.md")) == [
        "2019-12-20-tak-for-et-godt-2019.md",
        f"{SAMPLE}.md",
    ]


# --- Edit and save --------------------------------------------------------------------------------


def test_the_editor_shows_the_file_its_preview_and_saves_a_whole_file(
    signed_in: SignIn, settings: Settings, engine: Engine
) -> None:
    editor = signed_in("editor", "jens@kommune.dk")
    path = settings.issues_dir / f"{SAMPLE}.md"
    page = editor.get(EDIT)
    assert page.status_code == 200
    assert_strict(page)
    assert textarea(page.text) == path.read_text(encoding="utf-8")
    assert hidden(page.text, "version") == hashlib.sha256(path.read_bytes()).hexdigest()
    for button in ("Afsnit", "Knap", "Kolonner", "Hilsen", "Underskrift", "Billede"):
        assert f">{button}</button>" in page.text
    frames = re.findall(r'<iframe id="frame-(\d+)"[^>]*sandbox="allow-same-origin" src="([^"]+)"', page.text)
    assert [width for width, _ in frames] == ["600", "375"] and frames[0][1] == frames[1][1]
    document = editor.get(frames[0][1])
    assert document.status_code == 200 and "Nyt fra Erhvervsservice" in document.text
    assert document.headers["content-security-policy"] == PREVIEW_CSP
    assert (
        "sandbox" in PREVIEW_CSP and "script-src" not in PREVIEW_CSP and "default-src 'none'" in PREVIEW_CSP
    )
    assert document.headers["x-frame-options"] == "SAMEORIGIN"
    # The issue's own image is shown from the workspace (it is public only once the issue is sent).
    image = re.search(rf'src="(/admin/issues/{SAMPLE}/images/kildedal\.png)"', document.text)
    assert image and editor.get(image.group(1)).headers["content-type"] == "image/png"
    assert '<pre id="plain-text"' in page.text and "Nyt fra Erhvervsservice" in page.text

    typed = textarea(page.text).replace("## ", "## Helt nyt afsnit\n\nSkrevet i browseren.\n\n## ", 1)
    answer = editor.post(EDIT, data=form_of(page.text, typed.replace("\n", "\r\n")))  # as browsers send it
    assert answer.status_code == 303 and answer.headers["location"] == f"{EDIT}?done=saved"
    assert path.read_text(encoding="utf-8") == typed  # whole, with the file's own line ends
    assert load_issue(path, settings).sections[1].heading == "Helt nyt afsnit"
    assert not list(settings.issues_dir.glob(".*.tmp"))
    assert actions(engine, "issue.saved") == [("jens@kommune.dk", SAMPLE)]
    again = editor.get(answer.headers["location"])
    assert f"Gemt i {SAMPLE}.md" in again.text and textarea(again.text) == typed
    unchanged = editor.post(EDIT, data=form_of(again.text, typed))
    assert unchanged.headers["location"] == f"{EDIT}?done=unchanged"
    assert len(actions(engine, "issue.saved")) == 1


def test_a_save_based_on_an_older_version_is_refused_with_the_other_change_shown(
    app: object, signed_in: SignIn, settings: Settings
) -> None:
    jens = signed_in("editor", "jens@kommune.dk")
    mette = signed_in("editor", "mette@kommune.dk", language="en")
    path = settings.issues_dir / f"{SAMPLE}.md"
    jens_page, mette_page = jens.get(EDIT), mette.get(EDIT)
    original = textarea(jens_page.text)

    jens_text = original.replace("## ", "## Jens' afsnit\n\nJens skrev her.\n\n## ", 1)
    assert jens.post(EDIT, data=form_of(jens_page.text, jens_text)).status_code == 303

    mette_text = original + "\nMette's closing line.\n"
    refused = mette.post(EDIT, data=form_of(mette_page.text, mette_text))
    assert refused.status_code == 409
    assert "Someone else saved the issue after you started writing. Your text is NOT saved" in refused.text
    assert path.read_text(encoding="utf-8") == jens_text  # never a silent overwrite
    assert textarea(refused.text) == mette_text  # her text is not lost
    diff = html.unescape(refused.text.split('<pre class="diff"', 1)[1].split("</pre>", 1)[0])
    assert "-## Jens' afsnit" in diff and "+Mette's closing line." in diff
    assert "Save my text anyway" in refused.text
    assert hidden(refused.text, "version") == hashlib.sha256(jens_text.encode()).hexdigest()

    # Having seen the change, she takes it in and saves: now based on the current version.
    merged = jens_text + "\nMette's closing line.\n"
    assert mette.post(EDIT, data=form_of(refused.text, merged)).status_code == 303
    assert path.read_text(encoding="utf-8") == merged


def test_text_that_does_not_render_is_kept_as_a_draft_and_the_good_file_is_untouched(
    signed_in: SignIn, settings: Settings, engine: Engine
) -> None:
    editor = signed_in("editor", "jens@kommune.dk")
    path = settings.issues_dir / f"{SAMPLE}.md"
    good = path.read_bytes()
    page = editor.get(EDIT)
    broken = textarea(page.text) + "\n![](kildedal.png)\n"
    line = broken.splitlines().index("![](kildedal.png)") + 1
    answer = editor.post(EDIT, data=form_of(page.text, broken))
    assert answer.status_code == 200
    assert "Teksten kan ikke gemmes som nyhedsbrev endnu, så den er gemt som kladde" in answer.text
    assert f'data-line="{line}"' in answer.text and "har ingen alternativ tekst" in answer.text
    assert path.read_bytes() == good
    draft = editing.read_draft(settings, SAMPLE)
    assert draft is not None and draft.text == broken and draft.saved_by == "jens@kommune.dk"
    assert (settings.issues_dir / ".drafts" / ".gitignore").read_text(encoding="utf-8").endswith("*\n")
    assert [entry for entry in actions(engine, "issue.edited")] == [("jens@kommune.dk", SAMPLE)]

    reopened = editor.get(EDIT)
    assert (
        textarea(reopened.text) == broken
        and "Du fortsætter en kladde, som jens@kommune.dk gemte" in reopened.text
    )
    assert hidden(reopened.text, "draft") == draft.version

    fixed = broken.replace("![](kildedal.png)", "![Byggepladsen](kildedal.png)")
    saved = editor.post(EDIT, data=form_of(reopened.text, fixed))
    assert saved.status_code == 303 and path.read_text(encoding="utf-8") == fixed
    assert editing.read_draft(settings, SAMPLE) is None


def test_a_draft_is_never_sent_built_or_published(
    signed_in: SignIn, settings: Settings, engine: Engine, erhverv: ListRow, client: AppClient
) -> None:
    editor = signed_in("editor")
    page = editor.get(EDIT)
    secret = "UDKAST-SOM-IKKE-MAA-UD"
    draft_text = textarea(page.text).replace("## ", f"{secret}\n\n![]( nope.png)\n\n## ", 1)
    assert "gemt som kladde" in editor.post(EDIT, data=form_of(page.text, draft_text)).text
    draft_file = settings.issues_dir / ".drafts" / f"{SAMPLE}.json"
    assert draft_file.is_file()

    # The archive shows the sent issue from its file, never the draft; the draft has no address.
    add_delivery(engine, add_member(engine, "modtager@example.com"), erhverv, issue=SAMPLE)
    public = client.get(f"/issues/{SAMPLE}")
    assert (
        public.status_code == 200 and "Nyt fra Erhvervsservice" in public.text and secret not in public.text
    )
    assert client.get(f"/issues/.drafts/{SAMPLE}.json").status_code == 404
    assert secret not in client.get("/").text

    code, output = run_cli(settings, "build", "--out", str(settings.root / "site"))
    assert code == 0, output
    built = sorted(path.name for path in (settings.root / "site").iterdir())
    assert built == ["2019-12-20-tak-for-et-godt-2019", SAMPLE]
    assert secret not in (settings.root / "site" / SAMPLE / "email.html").read_text(encoding="utf-8")
    code, output = run_cli(settings, "check", "--format", "json")
    assert code == 0 and secret not in output and ".drafts" not in output
    # Even named by its path, the draft is no issue `send` would take.
    code, output = run_cli(settings, "send", str(draft_file), "--list", "erhverv", "--dry-run")
    assert code != 0 and "YYYY-MM-DD-slug.md" in output


def test_autosave_keeps_a_draft_with_the_same_version_check(
    signed_in: SignIn, settings: Settings, engine: Engine
) -> None:
    editor = signed_in("editor", "jens@kommune.dk")
    other = signed_in("editor", "mette@kommune.dk")
    path = settings.issues_dir / f"{SAMPLE}.md"
    good = path.read_bytes()
    page = editor.get(EDIT)
    autosave = f"/admin/issues/{SAMPLE}/autosave"
    fields = form_of(page.text, textarea(page.text))

    unchanged = editor.post(autosave, data=fields)
    assert unchanged.json()["outcome"] == "unchanged" and editing.read_draft(settings, SAMPLE) is None
    first = editor.post(autosave, data={**fields, "text": fields["text"] + "\nEt halvt skrevet"})
    assert first.status_code == 200 and first.json()["outcome"] == "draft"
    second = editor.post(
        autosave,
        data={**fields, "draft": first.json()["draft"], "text": fields["text"] + "\nEt halvt skrevet afsnit"},
    )
    assert second.json()["outcome"] == "draft"
    assert path.read_bytes() == good  # autosave never writes the issue file
    draft = editing.read_draft(settings, SAMPLE)
    assert draft is not None and draft.text.endswith("Et halvt skrevet afsnit\n")
    assert len(actions(engine, "issue.edited")) == 1  # a draft begun is audited once, not every 20 s

    # Someone who opened the issue before the draft existed is refused, not allowed to replace it.
    stale = other.post(autosave, data={**fields, "csrf_token": csrf_of(other.get("/admin/").text)})
    assert stale.status_code == 409 and stale.json()["outcome"] == "conflict"
    refused_save = other.post(EDIT, data={**fields, "csrf_token": csrf_of(other.get("/admin/").text)})
    assert refused_save.status_code == 409 and "har gemt en kladde af nyhedsbrevet" in refused_save.text
    assert "jens@kommune.dk" in refused_save.text

    discard_page = editor.get(EDIT)
    discarded = editor.post(
        f"/admin/issues/{SAMPLE}/discard-draft",
        data={"csrf_token": csrf_of(discard_page.text), "draft": hidden(discard_page.text, "draft")},
    )
    assert discarded.headers["location"] == f"{EDIT}?done=discarded"
    assert editing.read_draft(settings, SAMPLE) is None and path.read_bytes() == good
    assert actions(engine, "issue.draft_discarded") == [("jens@kommune.dk", SAMPLE)]


def test_the_live_preview_renders_unsaved_text_with_findings_by_line(
    signed_in: SignIn, settings: Settings
) -> None:
    editor = signed_in("editor")
    page = editor.get(EDIT)
    preview = f"/admin/issues/{SAMPLE}/preview"
    text = textarea(page.text).replace("## ", "## Nyt afsnit\n\nSe [her](http://example.org/side).\n\n## ", 1)
    line = text.splitlines().index("Se [her](http://example.org/side).") + 1
    answer = editor.post(preview, data={"csrf_token": csrf_of(page.text), "text": text})
    assert answer.status_code == 200
    shown = answer.json()
    assert shown["subject"] == "Nyt fra Erhvervsservice – marts 2020" and "Nyt afsnit" in shown["text"]
    assert f'data-line="{line}"' in shown["findings"] and "http://" in shown["findings"]
    document = editor.get(shown["document"])
    assert "Nyt afsnit" in document.text
    assert (settings.issues_dir / f"{SAMPLE}.md").read_text(encoding="utf-8") == textarea(page.text)

    broken = editor.post(preview, data={"csrf_token": csrf_of(page.text), "text": "---\nsubject: Hej\n"})
    assert broken.json()["document"] == ""
    assert "Felterne øverst bliver aldrig afsluttet" in html.unescape(broken.json()["findings"])
    assert 'data-line="1"' in broken.json()["findings"]

    # A preview belongs to the user who rendered it.
    assert signed_in("editor", "mette@kommune.dk").get(shown["document"]).status_code == 404


# --- images ---------------------------------------------------------------------------------------


def upload(
    client: AppClient, page: str, name: str, data: bytes, alt: str, *, json_answer: bool = False
) -> object:
    return client.post(
        f"/admin/issues/{SAMPLE}/images",
        data={"csrf_token": csrf_of(page), "alt": alt},
        files={"image": (name, data, "application/octet-stream")},
        headers={"Accept": "application/json"} if json_answer else {},
    )


def test_an_image_needs_alt_text_and_is_stored_scaled_without_exif(
    signed_in: SignIn, settings: Settings, engine: Engine
) -> None:
    editor = signed_in("editor", "jens@kommune.dk")
    page = editor.get(EDIT).text
    folder = settings.issues_dir / SAMPLE
    before = sorted(p.name for p in folder.iterdir())
    photo = jpeg_with_gps()

    refused = upload(editor, page, "Foto fra mødet.JPG", photo, "   ")
    assert refused.status_code == 400 and "Skriv en alternativ tekst" in refused.text
    assert sorted(p.name for p in folder.iterdir()) == before

    stored = upload(editor, page, "Foto fra mødet.JPG", photo, "Borgmesteren [til venstre] ved mødet")
    assert stored.status_code == 303
    assert "foto-fra-moedet.jpg" in stored.headers["location"]
    notice = editor.get(stored.headers["location"]).text
    assert "Billedet er gemt som foto-fra-moedet.jpg (gjort mindre til 1200 px bredde)" in notice
    assert (
        html.escape(r"![Borgmesteren \[til venstre\] ved mødet](foto-fra-moedet.jpg)", quote=False) in notice
    )
    with Image.open(folder / "foto-fra-moedet.jpg") as saved:
        assert (saved.format, saved.size) == ("JPEG", (1200, 800))
        assert not saved.getexif() and not saved.getexif().get_ifd(0x8825)
    assert b"PhoneMaker" not in (folder / "foto-fra-moedet.jpg").read_bytes()
    assert actions(engine, "issue.image_added") == [("jens@kommune.dk", SAMPLE)]

    # The editor's script gets the Markdown to insert; a second upload of the same name gets a new one.
    again = upload(editor, page, "Foto fra mødet.JPG", jpeg_with_gps(800, 600), "Mødet", json_answer=True)
    assert again.status_code == 200 and again.json()["markdown"] == "![Mødet](foto-fra-moedet-2.jpg)"  # type: ignore[attr-defined]
    with Image.open(folder / "foto-fra-moedet-2.jpg") as small:
        assert small.size == (800, 600)


def test_a_file_that_only_claims_to_be_an_image_is_refused(signed_in: SignIn, settings: Settings) -> None:
    editor = signed_in("editor")
    page = editor.get(EDIT).text
    folder = settings.issues_dir / SAMPLE
    before = sorted(p.name for p in folder.iterdir())
    answer = upload(editor, page, "plakat.png", b"<svg onload=alert(1)>not a png</svg>", "En plakat")
    assert answer.status_code == 400
    assert "Filen er ikke et PNG-, JPG-, GIF- eller WebP-billede (bedømt på indholdet" in answer.text
    as_json = upload(editor, page, "plakat.png", b"%PDF-1.4", "En plakat", json_answer=True)
    assert as_json.status_code == 400 and "bedømt på indholdet" in as_json.json()["error"]  # type: ignore[attr-defined]
    assert sorted(p.name for p in folder.iterdir()) == before
    # A real PNG named .jpg is stored under what it is.
    png = io.BytesIO()
    Image.new("RGB", (10, 10)).save(png, "PNG")
    named = upload(editor, page, "plakat.jpg", png.getvalue(), "En plakat", json_answer=True)
    assert named.json()["markdown"] == "![En plakat](plakat.png)"  # type: ignore[attr-defined]


# --- who may ---------------------------------------------------------------------------------------


def test_without_a_session_nothing_is_written(app: object, client: AppClient, settings: Settings) -> None:
    path = settings.issues_dir / f"{SAMPLE}.md"
    good = path.read_bytes()
    assert client.get(EDIT).status_code == 303
    assert client.get("/admin/issues/new").status_code == 303
    for url, fields in (
        (EDIT, {"text": "---\nsubject: Overtaget\n---\nTekst\n"}),
        (f"/admin/issues/{SAMPLE}/autosave", {"text": "x"}),
        (
            "/admin/issues/new",
            {"subject": "Overtaget", "template": "newsletter", "language": "da", "date": "2030-01-01"},
        ),
    ):
        assert client.post(url, data={"csrf_token": "x", **fields}).status_code == 403
    image = client.post(
        f"/admin/issues/{SAMPLE}/images",
        data={"csrf_token": "x", "alt": "x"},
        files={"image": ("x.jpg", jpeg_with_gps(20, 20), "image/jpeg")},
    )
    assert image.status_code == 403
    assert path.read_bytes() == good
    assert not (settings.issues_dir / "2030-01-01-overtaget.md").exists()
    assert not (settings.issues_dir / SAMPLE / "x.jpg").exists()


def test_a_missing_or_linked_issue_is_not_opened(
    signed_in: SignIn, settings: Settings, tmp_path: Path
) -> None:
    editor = signed_in("editor")
    assert editor.get("/admin/issues/2030-01-01-findes-ikke/edit").status_code == 404
    assert editor.get("/admin/issues/..%2Fnewsletter/edit").status_code == 404
    outside = tmp_path / "privat.md"
    outside.write_text("---\nsubject: Privat\n---\nLønninger.\n", encoding="utf-8")
    (settings.issues_dir / "2030-01-01-link.md").symlink_to(outside)
    assert editor.get("/admin/issues/2030-01-01-link/edit").status_code == 404


@pytest.mark.parametrize("failure_point", ["replace", "write"])
def test_a_crash_while_saving_leaves_the_old_file_whole(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, failure_point: str
) -> None:
    path = settings.issues_dir / f"{SAMPLE}.md"
    good = path.read_bytes()
    opened = editing.open_issue(settings, SAMPLE)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(editing.os, failure_point if failure_point == "replace" else "fsync", crash)
    with pytest.raises(OSError):
        editing.save(
            settings,
            SAMPLE,
            opened.text + "\nNyt.\n",
            version=opened.version,
            draft_version="",
            by="jens@kommune.dk",
        )
    assert path.read_bytes() == good
    assert list(settings.issues_dir.glob(".*")) == []  # no temporary file left behind


def test_a_text_too_long_is_refused_whole_not_cut(signed_in: SignIn, settings: Settings) -> None:
    editor = signed_in("editor")
    path = settings.issues_dir / f"{SAMPLE}.md"
    good = path.read_bytes()
    page = editor.get(EDIT)
    huge = textarea(page.text) + "x" * editing.MAX_TEXT_CHARS
    answer = editor.post(EDIT, data=form_of(page.text, huge))
    assert (
        answer.status_code == 413 and "Teksten er for lang (over 400000 tegn) og er ikke gemt" in answer.text
    )
    assert path.read_bytes() == good and editing.read_draft(settings, SAMPLE) is None


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("da", "Linket '#top' er ikke en fuld adresse – skriv https://… eller mailto:…"),
        ("en", "link '#top' is not an absolute address — write https://… or mailto:…"),
    ],
)
def test_the_preview_says_what_is_wrong_in_the_users_language(
    signed_in: SignIn, settings: Settings, language: str, shown: str
) -> None:
    editor = signed_in("editor", language=language)
    page = editor.get(EDIT)
    text = textarea(page.text) + "\n[Til toppen](#top)\n"
    line = text.splitlines().index("[Til toppen](#top)") + 1
    answer = editor.post(
        f"/admin/issues/{SAMPLE}/preview", data={"csrf_token": csrf_of(page.text), "text": text}
    )
    findings = html.unescape(answer.json()["findings"])
    assert answer.json()["document"] == ""
    assert f'data-line="{line}"' in findings and shown in findings and "[issue-invalid]" in findings
    # The command line says it in English, whatever the workspace user reads.
    (settings.issues_dir / f"{SAMPLE}.md").write_text(text, encoding="utf-8")
    code, output = run_cli(settings, "check", SAMPLE)
    assert code == 8
    assert (
        f"{SAMPLE}.md:{line}: error: link '#top' is not an absolute address — write https://… or mailto:…"
        in output
    )
