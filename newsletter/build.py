"""``newsletter build``: rendered issues written to ``DIR/<slug>/``, all or nothing.

Per issue the folder holds what the settings' sample recipient would receive:
``email.html`` and ``email.txt`` (open them in a browser: the web-version and
unsubscribe links work), ``message.eml`` (the full MIME message, with the
List-Unsubscribe headers a send adds, built by the same builders as a send;
open it in any mail client) and the issue's local images.

Every issue is rendered before anything is written, so one broken issue
stops the whole build with nothing written. Each folder is assembled in a
hidden temporary folder beside it and renamed into place, so a crash
never leaves a half-written ``DIR/<slug>/``.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.assets import AssetProblem, read_image
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.issue import all_issues, load_issue
from newsletter.render import Rendered, render_issue
from newsletter.sample_message import sample_message, sample_parts


@dataclass(frozen=True)
class Built:
    slug: str
    folder: Path
    files: tuple[str, ...]
    html_bytes: int


def build(issue_paths: Sequence[Path] | None, settings: Settings, out_dir: Path | None = None) -> list[Built]:
    """Render every issue (all of them when ``issue_paths`` is empty), then write each folder."""
    paths = list(issue_paths) if issue_paths else all_issues(settings)
    if not paths:
        raise NewsletterError(
            f'{settings.issues_dir}: no issues to build — create one with: newsletter new "Titel"'
        )
    rendered = [render_issue(load_issue(path, settings), settings) for path in paths]
    target = Path(out_dir) if out_dir else settings.build_dir
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NewsletterError(f"{target}: cannot create the build folder: {exc.strerror}") from exc
    return [write_build(item, settings, target) for item in rendered]


def write_build(rendered: Rendered, settings: Settings, out_dir: Path) -> Built:
    """Write one rendered issue to ``out_dir/<slug>/`` atomically."""
    final = out_dir / rendered.slug
    staging = out_dir / f".{rendered.slug}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        staging.mkdir()
        html, text = sample_parts(rendered, settings)
        (staging / "email.html").write_text(html, encoding="utf-8")
        (staging / "email.txt").write_text(text, encoding="utf-8")
        (staging / "message.eml").write_bytes(sample_message(rendered, settings))
        files = ["email.html", "email.txt", "message.eml"]
        for source, _url in rendered.assets:
            # Read again through the checks: the file may have become a link since the issue was loaded.
            (staging / source.name).write_bytes(_image_bytes(source))
            files.append(source.name)
        _replace_folder(staging, final)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise NewsletterError(f"{final}: cannot write the build: {exc.strerror or exc}") from exc
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Built(rendered.slug, final, tuple(files), len(rendered.html.encode()))


def _image_bytes(source: Path) -> bytes:
    try:
        return read_image(source)
    except AssetProblem as exc:
        raise NewsletterError(f"{source}: {exc}") from None


def _replace_folder(staging: Path, final: Path) -> None:
    """Swap ``staging`` in for ``final``; the old folder is removed only once the new one is in place."""
    if final.exists():
        old = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        final.rename(old)
        try:
            staging.rename(final)
        except OSError:
            old.rename(final)
            raise
        if old.is_symlink():
            old.unlink()  # a link in the build folder: drop the link, never what it points at
        else:
            shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(final)
