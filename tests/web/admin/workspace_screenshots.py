"""The workspace's screenshots in docs/images, taken in Chromium from a throwaway copy of the project.

    .venv/bin/python -m tests.web.admin.workspace_screenshots             # → docs/images
    .venv/bin/python -m tests.web.admin.workspace_screenshots --out /tmp  # somewhere else

It writes three PNGs of the sample issue, *Tak for et godt 2019*:

- ``workspace-editor.png``: the editor beside its live preview, 1280 px wide;
- ``workspace-send.png``: Test and send with the list erhverv chosen, 1000 px wide;
- ``workspace-progress.png``: a send of it to erhverv under way, 1000 px wide.

The project is the tests' (tests/conftest.py) with the sample subscribers
(samples/subscribers.csv), set up as an administrator would: the list, the
import and ``users add`` run as the command-line program. The outbox is
paced to one message a second, so the progress is caught half-way.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from newsletter.browser import launch
from tests.conftest import REPO, TEST_SECRET_KEY, write_project
from tests.web.serving import run_cli, serving

SAMPLE = "2019-12-20-tak-for-et-godt-2019"
USER = "lise@kommune.dk"
PASSWORD = "syv grønne elefanter danser tango"
PACED = '[provider]\nname = "outbox"\noutbox_dir = "outbox"\nbatch_size = 1\nmessages_per_second = 1\n'


def set_up(folder: Path, env: dict[str, str]) -> tuple[Path, str]:
    """The project, its list, the sample subscribers and a sender; the path of the set-password link."""
    config = write_project(folder, "sqlite:///newsletter.db")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            '[provider]\nname = "outbox"\noutbox_dir = "outbox"\n', PACED
        ),
        encoding="utf-8",
    )
    commands = [
        ("lists", "create", "erhverv", "--title", "Erhvervsnyt", "--consent-text", "Ja tak"),
        ("subscribers", "import", str(REPO / "samples" / "subscribers.csv"), "--list", "erhverv"),
        ("users", "add", USER, "--role", "sender", "--name", "Lise"),
    ]
    for command in commands:
        done = run_cli(config, *command, env=env)
        if done.returncode != 0:
            raise SystemExit(f"newsletter {' '.join(command)} failed: {done.stdout}{done.stderr}")
    link = re.search(r"https://\S+?(/admin/set-password/\S+)", done.stdout)
    if link is None:
        raise SystemExit(f"users add printed no link: {done.stdout}")
    return config, link.group(1)


def sign_in(page: Any, url: str, link: str) -> None:
    page.goto(url + link)
    page.get_by_label("Ny adgangskode").fill(PASSWORD)
    page.get_by_label("Gentag adgangskoden").fill(PASSWORD)
    page.get_by_role("button", name="Gem adgangskoden").click()
    page.wait_for_url(re.compile(r".*/admin/login\?done=password.*"))
    page.get_by_label("E-mailadresse").fill(USER)
    page.get_by_label("Adgangskode").fill(PASSWORD)
    page.get_by_role("button", name="Log ind").click()
    page.wait_for_url(f"{url}/admin/")


def take(out: Path) -> list[Path]:
    env = {"NEWSLETTER_SECRET_KEY": os.environ.get("NEWSLETTER_SECRET_KEY") or TEST_SECRET_KEY}
    written = [out / "workspace-editor.png", out / "workspace-send.png", out / "workspace-progress.png"]
    editor_png, send_png, progress_png = written
    with tempfile.TemporaryDirectory() as folder:
        config, link = set_up(Path(folder) / "project", env)
        with serving(config, env) as url, launch() as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 960})
            sign_in(page, url, link)

            page.goto(f"{url}/admin/issues/{SAMPLE}/edit")
            for frame in ("#frame-600", "#frame-375"):
                page.frame_locator(frame).get_by_text("Tak for et godt 2019").first.wait_for()
            page.screenshot(path=str(editor_png))

            page.set_viewport_size({"width": 1000, "height": 700})
            page.goto(f"{url}/admin/issues/{SAMPLE}/send?list=erhverv")
            page.screenshot(path=str(send_png), full_page=True)

            page.get_by_label("Skriv listens navn, erhverv, for at bekræfte").fill("erhverv")
            page.get_by_role("button", name=re.compile(r"Send til \d+ på erhverv")).click()
            page.wait_for_url(f"{url}/admin/issues/{SAMPLE}/sends/erhverv")
            # Half-way, once the numbers have refreshed with a rate to show.
            page.locator("#send-progress dd").filter(has_text="e-mails i sekundet").wait_for(timeout=30_000)
            page.screenshot(path=str(progress_png), full_page=True)
            page.locator(".run-state").filter(has_text="Færdig").wait_for(timeout=60_000)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "images", help="folder for the PNGs")
    for path in take(parser.parse_args().out):
        print(path)


if __name__ == "__main__":
    main()
