"""``newsletter build`` and ``newsletter new`` as a user runs them."""

from __future__ import annotations

import datetime
import email
import email.policy
import re
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import Result

import newsletter.build
from newsletter.cli import main
from newsletter.config import load_settings
from newsletter.scaffold import NewIssue, create_issue
from newsletter.slugs import slugify
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE


def test_build_writes_html_text_and_a_readable_message(run_cli: Callable[..., Result], project: Path) -> None:
    result = run_cli("build", SAMPLE, "--out", str(project / "out"))
    assert result.exit_code == 0, result.output
    folder = project / "out" / SAMPLE
    assert sorted(path.name for path in folder.iterdir()) == ["email.html", "email.txt", "message.eml"]
    assert f"Built {folder}/" in result.output
    html = (folder / "email.html").read_text(encoding="utf-8")
    assert "KILDEDAL – et nyt erhvervs- og boligområde" in html
    # Opened in a browser, its links work: merged for the sample recipient like message.eml.
    assert "%%nl:" not in html and "%%nl:" not in (folder / "email.txt").read_text(encoding="utf-8")
    assert 'href="https://nyhedsbrev.example.org/u/' in html

    message = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=email.policy.default)
    assert message["Subject"] == "Tak for et godt 2019"
    assert message["To"].addresses[0].addr_spec == "modtager@example.com"
    assert message["From"].addresses[0].display_name == "BusinessBallerup"
    unsubscribe = message["List-Unsubscribe"]
    assert (
        unsubscribe.startswith("<https://nyhedsbrev.example.org/u/")
        and "<mailto:afmeld@example.org" in unsubscribe
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text_part = message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html_part = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "Kære" not in text_part  # the seed opens without a salutation; the sample keeps it so
    assert "KILDEDAL – et nyt erhvervs- og boligområde" in text_part
    assert "Vi ønsker alle en glædelig jul og et godt nytår!" in html_part
    token_url = unsubscribe.split(">")[0].lstrip("<")
    assert token_url in text_part and token_url in html_part  # body link and header agree
    assert "%%nl:" not in text_part and "%%nl:" not in html_part


def test_danish_letters_and_en_dash_survive_the_subject_header(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    subject = "Ærø – Søndag på Åen: æøå ÆØÅ"
    write_issue("2020-02-02-aeroe", f"---\nsubject: '{subject}'\n---\n\nTekst om Ærø – og Åen.\n")
    assert run_cli("build", "2020-02-02-aeroe").exit_code == 0
    raw = (project / "build" / "2020-02-02-aeroe" / "message.eml").read_bytes()
    assert raw.isascii()  # encoded for transport (RFC 2047 / quoted-printable)
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert message["Subject"] == subject
    assert "Tekst om Ærø – og Åen." in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
    html = (project / "build" / "2020-02-02-aeroe" / "email.html").read_text(encoding="utf-8")
    assert "Tekst om Ærø – og Åen." in html and "<title>Ærø – Søndag på Åen: æøå ÆØÅ</title>" in html


def test_build_all_copies_local_images(run_cli: Callable[..., Result], project: Path) -> None:
    result = run_cli("build")
    assert result.exit_code == 0, result.output
    folder = project / "build" / SECOND_SAMPLE
    for name in ("lautrupparken.png", "kildedal.png", "moede.png"):
        assert (folder / name).read_bytes() == (project / "issues" / SECOND_SAMPLE / name).read_bytes()
    assert (project / "build" / SAMPLE / "email.txt").is_file()
    assert not [path for path in (project / "build").iterdir() if path.name.startswith(".")]  # no leftovers
    message = email.message_from_bytes((folder / "message.eml").read_bytes(), policy=email.policy.default)
    for kind in ("plain", "html"):  # personalised for the settings' sample recipient
        assert "Kære Jens Hansen," in message.get_body(preferencelist=(kind,)).get_content()  # type: ignore[union-attr]


def test_rebuild_replaces_the_folder(run_cli: Callable[..., Result], project: Path) -> None:
    assert run_cli("build", SAMPLE).exit_code == 0
    stale = project / "build" / SAMPLE / "stale.txt"
    stale.write_text("from an older build")
    assert run_cli("build", SAMPLE).exit_code == 0
    assert not stale.exists()
    assert (project / "build" / SAMPLE / "email.html").is_file()


def test_issue_can_be_named_by_path_file_name_or_slug(run_cli: Callable[..., Result], project: Path) -> None:
    for name in (str(project / "issues" / f"{SAMPLE}.md"), f"{SAMPLE}.md", SAMPLE):
        result = run_cli("build", name, "--out", str(project / "o"))
        assert result.exit_code == 0, (name, result.output)


def test_new_creates_a_buildable_issue_and_refuses_to_overwrite(
    run_cli: Callable[..., Result], project: Path
) -> None:
    result = run_cli("new", "Godt nytår 2020", "--date", "2020-01-02")
    assert result.exit_code == 0, result.output
    path = project / "issues" / "2020-01-02-godt-nytaar-2020.md"
    assert path.is_file()
    original = path.read_text(encoding="utf-8")
    assert "subject: Godt nytår 2020" in original
    assert run_cli("build", path.stem).exit_code == 0

    again = run_cli("new", "Godt nytår 2020", "--date", "2020-01-02")
    assert again.exit_code == 3
    assert "2020-01-02-godt-nytaar-2020.md: already exists" in again.stderr
    assert path.read_text(encoding="utf-8") == original


def test_new_defaults_to_today_and_quotes_awkward_titles(
    run_cli: Callable[..., Result], project: Path
) -> None:
    result = run_cli("new", "Nyt: 50% rabat # på 'alt'")
    assert result.exit_code == 0, result.output
    today = datetime.date.today().isoformat()
    path = project / "issues" / f"{today}-nyt-50-rabat-paa-alt.md"
    assert path.is_file()
    assert run_cli("build", path.stem).exit_code == 0
    assert "Nyt: 50% rabat # på 'alt'" in (project / "build" / path.stem / "email.html").read_text(
        encoding="utf-8"
    )


def test_new_refuses_a_title_without_letters(run_cli: Callable[..., Result], project: Path) -> None:
    result = run_cli("new", "!!! ???")
    assert result.exit_code == 2
    assert "TITLE" in result.stderr
    assert not any((project / "issues").glob(f"{datetime.date.today().isoformat()}-*.md"))


def test_slugify_transliterates_danish() -> None:
    assert slugify("Godt nytår 2020") == "godt-nytaar-2020"
    assert slugify("Æbler, østers & ål") == "aebler-oesters-aal"
    assert slugify("Café Über") == "cafe-uber"
    assert slugify("  --  ") == ""
    assert len(slugify("ord " * 50)) <= 60


def test_commands_document_an_example() -> None:
    for name in ("build", "new"):
        command = main.get_command(click.Context(main), name)
        assert command is not None and "Example:" in (command.help or "")


def test_new_refuses_an_unknown_template(run_cli: Callable[..., Result], project: Path) -> None:
    result = run_cli("new", "Nyt", "--template", "julekort")
    assert result.exit_code == 2
    assert (
        "'julekort' does not exist in templates/ or the built-ins" in result.stderr
        and "holiday" in result.stderr
    )
    assert not list((project / "issues").glob("*-nyt.md"))


def test_a_crash_while_writing_leaves_the_old_build_and_no_temporary_folder(
    run_cli: Callable[..., Result], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli("build", SAMPLE).exit_code == 0
    built = project / "build" / SAMPLE / "email.html"
    before = built.read_bytes()

    def disk_full(*_args: object, **_kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(newsletter.build, "sample_message", disk_full)
    result = run_cli("build", SAMPLE)
    assert result.exit_code == 1
    assert (
        result.stderr.strip()
        == f"Error: {project / 'build' / SAMPLE}: cannot write the build: No space left on device"
    )
    assert built.read_bytes() == before
    assert [path.name for path in (project / "build").iterdir()] == [SAMPLE]  # no .tmp folder left behind


@pytest.mark.parametrize("template", ["newsletter", "holiday"])
@pytest.mark.parametrize("lang", ["da", "en"])
def test_an_untouched_skeleton_is_unfinished_for_check(
    run_cli: Callable[..., Result], project: Path, template: str, lang: str
) -> None:
    """The skeleton's stand-in text ("Skriv indledningen her…", links to example.org) must not be sent."""
    settings = load_settings(project / "newsletter.toml")
    new = NewIssue(subject="Nyt om erhverv", date=datetime.date(2020, 4, 1), template=template, lang=lang)
    path = create_issue(new, settings)
    result = run_cli("check", path.stem)
    assert result.exit_code == 8, result.output
    unfinished = [line for line in result.output.splitlines() if "[unfinished-text]" in line]
    assert unfinished and all(
        ": error: this line still has the new issue's stand-in text" in line for line in unfinished
    )
    first_line = next(
        n
        for n, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if "here" in text or "her:" in text
    )
    assert f"{path.name}:{first_line}: error" in unfinished[0]


def _too_long(text: str) -> list[str]:
    """Lines over 78 characters that are not an address standing alone (which may be as long as it is)."""
    return [
        line
        for line in text.splitlines()
        if len(line) > 78 and not re.fullmatch(r"\(?(https?|mailto):\S+?\)?[.,]?", line.strip())
    ]


def test_text_lines_fit_78_characters_with_long_addresses_on_their_own_line(
    run_cli: Callable[..., Result], project: Path
) -> None:
    """The text part as the sample recipient gets it: signed links of ~100 characters included."""
    assert run_cli("build").exit_code == 0
    texts = sorted((project / "build").glob("*/email.txt"))
    assert len(texts) >= 2
    for path in texts:
        text = path.read_text(encoding="utf-8")
        assert "https://nyhedsbrev.example.org/u/" in text  # merged: the real unsubscribe link
        assert _too_long(text) == [], path
