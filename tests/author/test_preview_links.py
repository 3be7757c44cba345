"""The preview serves an issue's images only through the publishing checks, never by following a link."""

from __future__ import annotations

import os
from pathlib import Path

import httpx

from newsletter.config import Settings
from newsletter.preview.app import create_app
from newsletter.preview.server import serve_in_thread
from newsletter.preview.snapshot import Builder
from newsletter.screenshot import _write_page

SECOND = "2020-03-02-nyt-fra-erhvervsservice"


def test_an_image_turned_into_a_link_after_the_build_is_not_served(settings: Settings) -> None:
    issue = settings.issues_dir / "2020-02-01-billeder.md"
    folder = settings.issues_dir / issue.stem
    folder.mkdir()
    png = (settings.issues_dir / SECOND / "kildedal.png").read_bytes()
    (folder / "roed.png").write_bytes(png)
    issue.write_text("---\nsubject: Billeder\n---\n\nTekst.\n\n![Et rødt felt](roed.png)\n", encoding="utf-8")
    secret = settings.path.parent / "newsletter.toml" if settings.path else Path("/etc/passwd")
    with serve_in_thread(create_app(Builder(issue_path=issue, settings=settings), watch=False)) as url:
        assert httpx.get(f"{url}/assets/0").content == png
        # Swapped for a link between two builds: the last good build still lists the file.
        (folder / "roed.png").unlink()
        os.symlink(os.path.relpath(secret, folder), folder / "roed.png")
        answer = httpx.get(f"{url}/assets/0")
        assert answer.status_code == 404 and "symbolic link" in answer.text
        assert secret.read_text(encoding="utf-8")[:40] not in answer.text
        httpx.post(f"{url}/rebuild")
        state = httpx.get(f"{url}/state.json").json()
        assert "roed.png" in state["error"] and "symbolic link" in state["error"]


def test_a_screenshot_copies_no_linked_image(settings: Settings, tmp_path: Path) -> None:
    real = settings.issues_dir / SECOND / "kildedal.png"
    linked = settings.issues_dir / SECOND / "logo.png"
    os.symlink("../../newsletter.toml", linked)
    page = tmp_path / "page"
    page.mkdir()
    html = '<img src="https://x.example/kildedal.png"><img src="https://x.example/logo.png">'
    written = _write_page(
        page, html, [("https://x.example/kildedal.png", real), ("https://x.example/logo.png", linked)]
    )
    assert sorted(path.name for path in page.iterdir()) == ["asset-0.png", "email.html"]
    assert (
        'src="asset-0.png"' in written.read_text()
        and 'src="https://x.example/logo.png"' in written.read_text()
    )
