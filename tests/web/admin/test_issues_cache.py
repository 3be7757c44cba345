"""The Issues page checks a file again only when it (or its images, or a template) changed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from newsletter.checks import files
from newsletter.config import Settings
from tests.web.admin.test_pages import SAMPLE, SignIn, rows_of


@pytest.fixture
def checked_files(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the issue files the real check function was called for, in order."""
    calls: list[str] = []
    real: Callable[..., files.CheckedFile] = files.check_issue_file

    def counting(path: Path, settings: Settings, **options: bool) -> files.CheckedFile:
        calls.append(path.name)
        return real(path, settings, **options)

    monkeypatch.setattr(files, "check_issue_file", counting)
    return calls


def row_of(page: str, file_name: str) -> str:
    return next(row for row in rows_of(page) if file_name in row)


def test_an_unchanged_issue_is_not_checked_again_and_an_edit_shows_at_once(
    signed_in: SignIn, settings: Settings, checked_files: list[str]
) -> None:
    client = signed_in("editor")
    names = sorted(path.name for path in settings.issues_dir.glob("*.md"))
    sample = settings.issues_dir / f"{SAMPLE}.md"

    first = client.get("/admin/")
    assert sorted(checked_files) == names and "Tak for et godt 2019" in row_of(first.text, sample.name)

    checked_files.clear()
    assert client.get("/admin/").text == first.text
    assert checked_files == []

    # The editor saves by writing a new file over the old one; a plain write counts as much.
    sample.write_text(
        sample.read_text(encoding="utf-8").replace("subject: Tak for et godt 2019", "subject: Godt nytår"),
        encoding="utf-8",
    )
    edited = client.get("/admin/")
    assert checked_files == [sample.name]
    assert "Godt nytår" in row_of(edited.text, sample.name)
    assert "Tak for et godt 2019" not in edited.text

    checked_files.clear()
    broken = settings.issues_dir / "2021-01-04-i-stykker.md"
    broken.write_text("---\nsubject: [uafsluttet\n---\nTekst\n", encoding="utf-8")
    added = client.get("/admin/")
    assert checked_files == [broken.name] and "Kan ikke læses" in row_of(added.text, broken.name)

    checked_files.clear()
    broken.unlink()
    removed = client.get("/admin/")
    assert checked_files == [] and broken.name not in removed.text


def test_a_changed_image_or_template_checks_again(
    signed_in: SignIn, settings: Settings, checked_files: list[str]
) -> None:
    client = signed_in("editor")
    sample = settings.issues_dir / f"{SAMPLE}.md"
    assert "Alt i orden" in row_of(client.get("/admin/").text, sample.name)

    # A hard link in the issue's image folder is an error even before any image uses it.
    checked_files.clear()
    folder = settings.issues_dir / SAMPLE
    folder.mkdir(exist_ok=True)
    outside = settings.issues_dir.parent / "elsewhere.png"
    outside.write_bytes(b"\x89PNG\r\n\x1a\n")
    (folder / "linked.png").hardlink_to(outside)
    page = client.get("/admin/")
    assert checked_files == [sample.name] and "1 fejl" in row_of(page.text, sample.name)

    # A project template of the sample's name takes over from the built-in one: every issue again.
    checked_files.clear()
    (settings.templates_dir / "holiday.mjml.j2").write_text(
        '{% extends "builtin/holiday.mjml.j2" %}\n', encoding="utf-8"
    )
    client.get("/admin/")
    assert sorted(checked_files) == sorted(path.name for path in settings.issues_dir.glob("*.md"))
