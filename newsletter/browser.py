"""Headless Chromium from Debian's package, driven by Playwright.

Playwright's own browser downloads are never used: we launch the system
Chromium (``apt-get install chromium``) by path. The flags keep it from
reaching for the network at start (this project runs offline) and let it run
as root in containers.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from newsletter.errors import NewsletterError

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CHROMIUM_ENV = "NEWSLETTER_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


class BrowserUnavailable(NewsletterError):
    exit_code = 9


def chromium_path() -> Path:
    """Where Chromium is: $NEWSLETTER_CHROMIUM, /usr/bin/chromium, or on PATH."""
    configured = os.environ.get(CHROMIUM_ENV)
    candidates = [configured] if configured else [DEFAULT_CHROMIUM, shutil.which("chromium") or ""]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise BrowserUnavailable(
        f"Chromium not found at {candidates[0] or DEFAULT_CHROMIUM} — install it with "
        f"'apt-get install chromium' or set {CHROMIUM_ENV}"
    )


@contextmanager
def launch() -> Iterator[Browser]:
    """A running headless Chromium, closed on exit."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
