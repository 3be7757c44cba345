"""Commands of the author area: ``preview`` and ``screenshot`` (``check`` is :mod:`newsletter.cli.check`)."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from pathlib import Path

import click

from newsletter.cli.check import issue_paths
from newsletter.cli.context import settings_of
from newsletter.config import Settings
from newsletter.issue import resolve_issue
from newsletter.per_recipient import SamplePerson
from newsletter.preview.app import create_app
from newsletter.preview.sample import recipient_from_store
from newsletter.preview.server import bind, serve_forever, url_of
from newsletter.preview.snapshot import Builder, Snapshot
from newsletter.screenshot import screenshot_issue


def _newest_issue(settings: Settings) -> Path:
    return issue_paths(settings, ())[-1]


def _recipient(settings: Settings, email: str | None) -> SamplePerson | None:
    return recipient_from_store(settings, email) if email else None


@click.command("preview")
@click.argument("issue", required=False)
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Personalise for this subscriber from the store instead of [sample].",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8025,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--open/--no-open", "open_browser", default=False, help="Open the page in your web browser.")
@click.pass_context
def preview_command(
    ctx: click.Context, issue: str | None, as_email: str | None, port: int, open_browser: bool
) -> None:
    """Show an issue as subscribers will see it, rebuilt on every save.

    Serves a page on 127.0.0.1 with the email at 600 px and 375 px, the plain
    text, the inbox line and the check results. Saving the issue, a template or
    the settings file updates the page within a second; a broken issue shows
    its error (file and line) in the page. Without ISSUE, the newest issue.
    Stop with Ctrl-C.

    Example:

        newsletter preview 2019-12-20-tak-for-et-godt-2019 --as jens@example.com --port 8025
    """
    settings = settings_of(ctx)
    path = resolve_issue(issue, settings) if issue else _newest_issue(settings)
    builder = Builder(issue_path=path, settings=settings, recipient=_recipient(settings, as_email))
    sock = bind(port)
    url = url_of(sock)
    click.echo(f"Previewing {path} at {url} — press Ctrl-C to stop")
    if open_browser:
        webbrowser.open(url)
    serve_forever(create_app(builder, on_build=_build_reporter()), sock)


def _build_reporter() -> Callable[[Snapshot], None]:
    """Prints a broken build's error once (file and line, as the page shows it), and when it is fixed."""
    shown = ""

    def report(snapshot: Snapshot) -> None:
        nonlocal shown
        if snapshot.error and snapshot.error != shown:
            click.echo(f"Error: {snapshot.error}", err=True)
        elif not snapshot.error and shown:
            click.echo("Fixed: the preview shows the issue again.", err=True)
        shown = snapshot.error

    return report


@click.command("screenshot")
@click.argument("issue")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the PNGs (default: <build>/screenshots).",
)
@click.option(
    "--as",
    "as_email",
    metavar="EMAIL",
    help="Personalise for this subscriber from the store instead of [sample].",
)
@click.option(
    "--scale",
    type=click.IntRange(1, 3),
    default=1,
    show_default=True,
    help="Device pixels per CSS pixel: 2 for a sharp image on modern screens (1200 px wide for 600).",
)
@click.pass_context
def screenshot_command(
    ctx: click.Context, issue: str, out_dir: Path | None, as_email: str | None, scale: int
) -> None:
    """Write full-page PNGs of an issue at 600 px and 375 px, for a review.

    Uses headless Chromium (apt-get install chromium). Files are named
    <slug>-600.png and <slug>-375.png (by the width in CSS pixels, whatever --scale).

    Example:

        newsletter screenshot 2019-12-20-tak-for-et-godt-2019 --out docs/screenshots --scale 2
    """
    settings = settings_of(ctx)
    path = resolve_issue(issue, settings)
    target = out_dir or settings.build_dir / "screenshots"
    person = _recipient(settings, as_email)
    for written in screenshot_issue(path, settings, target, recipient=person, scale=scale):
        click.echo(str(written))
