"""Commands of the compose area: ``build`` and ``new``."""

from __future__ import annotations

import datetime
from pathlib import Path

import click

from newsletter.build import build
from newsletter.cli.context import settings_of
from newsletter.issue import resolve_issue
from newsletter.scaffold import NewIssue, NewIssueProblem, create_issue

# Which part of the command line a refused field of the new issue came from.
OPTION_OF_FIELD = {"subject": "TITLE", "template": "--template"}


@click.command("build")
@click.argument("issues", nargs=-1)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder to write into (default: the settings' build folder, build/).",
)
@click.pass_context
def build_command(ctx: click.Context, issues: tuple[str, ...], out_dir: Path | None) -> None:
    """Render issues to DIR/<slug>/: email.html, email.txt and message.eml.

    ISSUE is a file, a file name in issues/ or a slug; with none, every issue
    is built. Every issue is rendered before anything is written, so a broken
    issue leaves the build folder untouched.

    Example:

        newsletter build 2019-12-20-tak-for-et-godt-2019 --out build
    """
    settings = settings_of(ctx)
    paths = [resolve_issue(name, settings) for name in issues]
    for built in build(paths, settings, out_dir):
        click.echo(f"Built {built.folder}/ ({', '.join(built.files)}; HTML {built.html_bytes / 1024:.1f} KB)")


@click.command("new")
@click.argument("title")
@click.option(
    "--date",
    "issue_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Issue date, YYYY-MM-DD (default: today).",
)
@click.option("--template", default=None, help="Template name (default: the settings' default template).")
@click.pass_context
def new_command(
    ctx: click.Context, title: str, issue_date: datetime.datetime | None, template: str | None
) -> None:
    """Create issues/YYYY-MM-DD-<slug>.md from a skeleton; never overwrites.

    The slug comes from TITLE with Danish letters written out (æ→ae, ø→oe, å→aa).

    Example:

        newsletter new "Godt nytår 2020"   # → issues/2026-01-02-godt-nytaar-2020.md
    """
    settings = settings_of(ctx)
    new = NewIssue(
        subject=title,
        date=issue_date.date() if issue_date else datetime.date.today(),
        template=template or settings.template,
        lang=settings.language,
    )
    try:
        path = create_issue(new, settings)
    except NewIssueProblem as exc:
        raise click.BadParameter(str(exc), param_hint=OPTION_OF_FIELD.get(exc.field, "TITLE")) from None
    click.echo(f"Created {path}")
    click.echo(f"Build it with: newsletter build {path.stem}")
