"""PNG screenshots of an issue at desktop (600 px) and phone (375 px) width, full page.

The email is merged for the sample recipient (as in the preview), written to
a temporary folder with its local images, and opened from disk in headless
Chromium (:func:`newsletter.browser.launch`). Every request that is not a
local file is refused, so a screenshot never waits on (or leaks to) the
network; remote images show as missing. Files are written under a temporary
name and renamed, so a failed run leaves no half-written PNG.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from newsletter.assets import AssetProblem, read_image
from newsletter.browser import launch
from newsletter.config import Settings
from newsletter.errors import NewsletterError
from newsletter.issue import load_issue
from newsletter.per_recipient import SamplePerson, sample_recipient
from newsletter.personalize import merge
from newsletter.render import render_issue

WIDTHS = (600, 375)
# The first screen before scrolling; the full-page capture extends it to the email's height.
VIEWPORT_HEIGHT = 800


def screenshot_issue(
    issue_path: Path,
    settings: Settings,
    out_dir: Path,
    *,
    widths: Sequence[int] = WIDTHS,
    recipient: SamplePerson | None = None,
    scale: int = 1,
) -> list[Path]:
    """Render ``issue_path`` and write ``<slug>-<width>.png`` into ``out_dir``; return the paths."""
    issue = load_issue(issue_path, settings)
    rendered = render_issue(issue, settings)
    values = sample_recipient(settings, rendered.slug, lang=rendered.lang, person=recipient).values
    html, _text = merge(rendered.html, rendered.text, values)
    assets = [(url, Path(source)) for source, url in rendered.assets]
    return screenshot_html(html, out_dir, rendered.slug, widths=widths, assets=assets, scale=scale)


def screenshot_html(
    html: str,
    out_dir: Path,
    stem: str,
    *,
    widths: Sequence[int] = WIDTHS,
    assets: Sequence[tuple[str, Path]] = (),
    scale: int = 1,
) -> list[Path]:
    """Full-page PNGs of ``html``, one per width, named ``<stem>-<width>.png``.

    ``scale`` 2 draws every CSS pixel as 2×2 (as a modern phone or laptop screen does), for a
    sharp review image; the name keeps the CSS width."""
    from playwright.sync_api import Error as PlaywrightError

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NewsletterError(
            f"{out_dir}: cannot create the folder: {exc.strerror} — pass another --out"
        ) from exc
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="nl-shot-") as folder:
        page_file = _write_page(Path(folder), html, assets)
        try:
            with launch() as browser:
                for width in widths:
                    target = out_dir / f"{stem}-{width}.png"
                    partial = target.with_name(f".{target.name}.partial")
                    context = browser.new_context(
                        viewport={"width": width, "height": VIEWPORT_HEIGHT}, device_scale_factor=scale
                    )
                    page = context.new_page()
                    page.route(
                        "**/*",
                        lambda route: (
                            route.continue_() if route.request.url.startswith("file://") else route.abort()
                        ),
                    )
                    page.goto(page_file.as_uri(), wait_until="load")
                    page.screenshot(path=str(partial), full_page=True, type="png")
                    context.close()
                    os.replace(partial, target)
                    written.append(target)
        except PlaywrightError as exc:
            raise NewsletterError(
                f"Chromium failed while taking the screenshot: {exc.message.splitlines()[0]}"
            ) from exc
    return written


def _write_page(folder: Path, html: str, assets: Sequence[tuple[str, Path]]) -> Path:
    """The email as a file, local images copied beside it and pointed at by relative paths."""
    for number, (url, source) in enumerate(assets):
        try:
            data = read_image(source)
        except AssetProblem:
            continue  # gone or turned into a link since the issue was loaded: shown as missing
        local = f"asset-{number}{source.suffix}"
        (folder / local).write_bytes(data)
        html = html.replace(url, local)
    page_file = folder / "email.html"
    page_file.write_text(html, encoding="utf-8")
    return page_file
