"""``build`` and ``check`` never follow a link out of an issue's own folder, and refuse what email cannot show."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from tests.compose.conftest import SECOND_SAMPLE

NEW = "2030-01-01-linket"


def _issue_with(write_issue: Callable[[str, str], Path], image: str) -> Path:
    return write_issue(NEW, f"---\nsubject: Linket\n---\n\nTekst.\n\n![Et billede]({image})\n")


def _png(project: Path) -> bytes:
    return (project / "issues" / SECOND_SAMPLE / "kildedal.png").read_bytes()


@pytest.mark.parametrize(
    ("target", "name"),
    [("../../newsletter.toml", "logo.png"), ("/etc/passwd", "passwd.png"), ("../../logo.png", "logo.png")],
)
def test_build_and_check_refuse_a_linked_image(
    run_cli: Callable[..., Result],
    write_issue: Callable[[str, str], Path],
    project: Path,
    target: str,
    name: str,
) -> None:
    (project / "logo.png").write_bytes(_png(project))  # a real image outside the issue's folder
    (project / "issues" / NEW).mkdir()
    os.symlink(target, project / "issues" / NEW / name)
    _issue_with(write_issue, name)

    built = run_cli("build", NEW, "--out", str(project / "out"))
    assert built.exit_code != 0
    assert f"{NEW}.md:7:" in built.output and "symbolic link" in built.output
    assert "put the real file here" in built.output
    assert not (project / "out" / NEW).exists()

    checked = run_cli("check", NEW)
    assert checked.exit_code != 0
    assert f"{NEW}.md:7:" in checked.output and "symbolic link" in checked.output


def test_build_refuses_a_hard_link_and_a_file_that_is_not_an_image(
    run_cli: Callable[..., Result], write_issue: Callable[[str, str], Path], project: Path
) -> None:
    folder = project / "issues" / NEW
    folder.mkdir()
    os.link(project / "newsletter.toml", folder / "kopi.png")
    _issue_with(write_issue, "kopi.png")
    built = run_cli("build", NEW, "--out", str(project / "out"))
    assert built.exit_code != 0 and "hard link" in built.output and f"{NEW}.md:7:" in built.output

    (folder / "kopi.png").unlink()
    (folder / "kopi.png").write_text("[organisation]\n", encoding="utf-8")
    built = run_cli("build", NEW, "--out", str(project / "out"))
    assert built.exit_code != 0 and "is not a PNG image" in built.output
    assert not (project / "out" / NEW).exists()


def test_an_issue_folder_that_links_to_the_project_publishes_nothing(
    run_cli: Callable[..., Result], write_issue: Callable[[str, str], Path], project: Path
) -> None:
    (project / "logo.png").write_bytes(_png(project))
    (project / "newsletter.db").write_bytes(b"SQLite format 3\x00")
    os.symlink("..", project / "issues" / NEW)
    _issue_with(write_issue, "logo.png")
    built = run_cli("build", NEW, "--out", str(project / "out"))
    assert built.exit_code != 0 and "symbolic link" in built.output
    assert not (project / "out" / NEW).exists()
    checked = run_cli("check", NEW)
    assert checked.exit_code != 0 and "symbolic link" in checked.output


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (".skjult.png", "must not start with '.'"),
        ("../newsletter.toml", "not in a subfolder"),
        ("%2e%2e/newsletter.toml", "not in a subfolder"),
        ("undermappe/foto.png", "not in a subfolder"),
        ("tegning.svg", "SVG images are not shown by Gmail and Outlook"),
        ("noter.md", "only .gif, .jpeg, .jpg, .png, .webp images can be sent"),
    ],
)
def test_only_plain_image_names_in_the_issue_folder(
    run_cli: Callable[..., Result],
    write_issue: Callable[[str, str], Path],
    project: Path,
    image: str,
    message: str,
) -> None:
    _issue_with(write_issue, image)
    built = run_cli("build", NEW, "--out", str(project / "out"))
    assert built.exit_code != 0 and message in built.output and f"{NEW}.md:7:" in built.output


def test_check_reports_a_link_no_image_uses_yet(run_cli: Callable[..., Result], project: Path) -> None:
    os.symlink("../../newsletter.toml", project / "issues" / SECOND_SAMPLE / "ekstra.png")
    checked = run_cli("check", SECOND_SAMPLE)
    assert checked.exit_code != 0
    assert f"{SECOND_SAMPLE}/ekstra.png: error: ekstra.png is a symbolic link" in checked.output
    assert "[image-folder-link]" in checked.output


def test_build_writes_images_as_plain_copies(run_cli: Callable[..., Result], project: Path) -> None:
    built = run_cli("build", SECOND_SAMPLE, "--out", str(project / "out"))
    assert built.exit_code == 0, built.output
    copy = project / "out" / SECOND_SAMPLE / "kildedal.png"
    assert not copy.is_symlink() and copy.stat().st_nlink == 1
    assert copy.read_bytes() == _png(project)


def test_build_replaces_a_linked_output_folder_without_touching_its_target(
    run_cli: Callable[..., Result], project: Path
) -> None:
    out = project / "out"
    out.mkdir()
    elsewhere = project / "vigtigt"
    elsewhere.mkdir()
    (elsewhere / "data.txt").write_text("behold", encoding="utf-8")
    os.symlink(elsewhere, out / SECOND_SAMPLE)
    built = run_cli("build", SECOND_SAMPLE, "--out", str(out))
    assert built.exit_code == 0, built.output
    assert not (out / SECOND_SAMPLE).is_symlink() and (out / SECOND_SAMPLE / "email.html").is_file()
    assert [path.name for path in elsewhere.iterdir()] == ["data.txt"]
    assert sorted(path.name for path in out.iterdir()) == [SECOND_SAMPLE]


def test_new_never_writes_through_a_dangling_link(run_cli: Callable[..., Result], project: Path) -> None:
    target = project / "udenfor.md"
    os.symlink(target, project / "issues" / "2030-05-05-hej.md")
    result = run_cli("new", "Hej", "--date", "2030-05-05")
    assert result.exit_code != 0 and "already exists" in result.output
    assert not target.exists()


def test_an_issue_file_that_is_a_link_is_refused_by_build_and_check(
    run_cli: Callable[..., Result], project: Path, tmp_path: Path
) -> None:
    """A link named like an issue could publish any Markdown file on the machine as a web page."""
    elsewhere = tmp_path / "privat.md"
    elsewhere.write_text("---\nsubject: Intern note\n---\n\nLønninger 2030.\n", encoding="utf-8")
    os.symlink(elsewhere, project / "issues" / f"{NEW}.md")

    built = run_cli("build", NEW, "--out", str(project / "out"))
    assert built.exit_code != 0
    assert f"{NEW}.md" in built.output and "symbolic link" in built.output
    assert not (project / "out" / NEW).exists()
    checked = run_cli("check", NEW)
    assert checked.exit_code != 0 and "symbolic link" in checked.output
