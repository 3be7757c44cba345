"""Commands of the compose area: ``build`` and ``new``."""

from __future__ import annotations

import datetime
from pathlib import Path

import click
import yaml

from newsletter.build import build
from newsletter.cli.group import settings_of
from newsletter.errors import IssueError
from newsletter.issue import resolve_issue
from newsletter.render import available_templates, no_such_template
from newsletter.slugs import slugify

SKELETON = """---
{front}---

Skriv indledningen her: et par linjer om, hvad nummeret handler om.

## Første afsnit

Et afsnit med *fremhævet* tekst og et [link](https://example.org/).

- et punkt
- et punkt mere

::: button
[Læs mere](https://example.org/)
:::

::: signature
Med venlig hilsen
{sender}
:::
"""


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
    slug = slugify(title)
    if not slug:
        raise click.BadParameter(
            "the title has no letters or digits to make a file name from", param_hint="TITLE"
        )
    template = template or settings.template
    if template not in available_templates(settings):
        raise click.BadParameter(no_such_template(template, settings), param_hint="--template")
    day = (issue_date.date() if issue_date else datetime.date.today()).isoformat()
    path = settings.issues_dir / f"{day}-{slug}.md"
    front = yaml.safe_dump(
        {
            "subject": title,
            "preheader": "",
            "kicker": "",
            "date": day,
            "template": template,
            "lang": settings.language,
        },
        allow_unicode=True,
        sort_keys=False,
    )
    content = SKELETON.format(front=front, sender=settings.sender.name)
    settings.issues_dir.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(content)
    except FileExistsError:
        raise IssueError(path, "already exists — edit it, or pick another title or --date") from None
    click.echo(f"Created {path}")
    click.echo(f"Build it with: newsletter build {path.stem}")


def register(main: click.Group) -> None:
    """Add this area's commands to the ``newsletter`` group."""
    main.add_command(build_command)
    main.add_command(new_command)
