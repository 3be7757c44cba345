"""``newsletter report``: what happened after a send (the logic lives in :mod:`newsletter.reports`)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click

from newsletter.cli.context import settings_of
from newsletter.config import Settings
from newsletter.errors import IssueError, NewsletterError
from newsletter.issue import resolve_issue
from newsletter.reports.figures import IssueReport, issue_report
from newsletter.reports.output import (
    compare_as_json,
    compare_lines,
    report_as_json,
    report_lines,
    write_compare_csv,
    write_csv,
)
from newsletter.reports.page import write_report_folder
from newsletter.store.db import open_engine

FORMATS = ("text", "json", "csv")


class ReportNotWritten(NewsletterError):
    """``--out`` names a folder that cannot be written."""


def _slug(settings: Settings, name: str) -> tuple[str, bool]:
    """The ledger key of ``name`` (a slug, a date or a path) and whether an issue file has it."""
    if name.endswith(".md"):
        return Path(name).stem, Path(name).is_file()
    try:
        return resolve_issue(name, settings).stem, True
    except IssueError:
        return name, False


def _report(settings: Settings, name: str, list_name: str | None) -> IssueReport:
    slug, known = _slug(settings, name)
    engine = open_engine(settings.database_url)
    return issue_report(engine, slug, list_name, tracking=settings.tracking, known_issue=known)


@click.command("report")
@click.argument("issue", required=False)
@click.option("--list", "list_name", metavar="NAME", help="Only the send to this list.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text for reading, json (the documented contract, docs/reports.md) or csv for a spreadsheet.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write report.html with its charts (SVG) into this folder.",
)
@click.option(
    "--compare",
    nargs=2,
    metavar="A B",
    help="Put two issues side by side instead (their sends to every list, or to --list).",
)
@click.pass_context
def report_command(
    ctx: click.Context,
    issue: str | None,
    list_name: str | None,
    output_format: str,
    out_dir: Path | None,
    compare: tuple[str, str] | None,
) -> None:
    """What happened after ISSUE was sent: delivered, bounced, complained, unsubscribed, by domain.

    Counts and rates against what was sent, every bounce and complaint with its reason, the
    send's pace per minute, events per hour over the first three days, and the outcome per
    recipient domain. Opens and clicks only with [tracking] on (docs/privacy.md).

    Example:

    \b
        newsletter report 2019-12-20-tak-for-et-godt-2019
        newsletter report 2019-12-20-tak-for-et-godt-2019 --format json
        newsletter report 2019-12-20-tak-for-et-godt-2019 --out rapport
        newsletter report --compare 2019-12-20-tak-for-et-godt-2019 2020-03-02-nyt-fra-erhvervsservice
    """
    if (issue is None) == (compare is None):
        raise click.UsageError("give one ISSUE, or --compare A B (not both)")
    settings = settings_of(ctx)
    if compare is not None:
        first, second = (_report(settings, name, list_name) for name in compare)
        if out_dir is not None:
            raise click.UsageError("--out writes one issue's report: run it for each issue")
        _echo_compare(first, second, output_format)
        return
    assert issue is not None
    report = _report(settings, issue, list_name)
    if out_dir is not None:
        try:
            written = write_report_folder(report, out_dir, settings.language)
        except OSError as exc:
            raise ReportNotWritten(
                f"{out_dir}: cannot write the report there ({exc.strerror or exc}) — "
                "choose a folder you may write to with --out"
            ) from exc
    _echo_report(report, output_format)
    if out_dir is not None:
        click.echo(f"Report written to {written}", err=output_format != "text")


def _echo_report(report: IssueReport, output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(report_as_json(report), indent=2, ensure_ascii=False))
    elif output_format == "csv":
        buffer = io.StringIO()
        write_csv(report, buffer)
        click.echo(buffer.getvalue(), nl=False)
    else:
        for line in report_lines(report):
            click.echo(line)


def _echo_compare(first: IssueReport, second: IssueReport, output_format: str) -> None:
    if output_format == "json":
        click.echo(json.dumps(compare_as_json(first, second), indent=2, ensure_ascii=False))
    elif output_format == "csv":
        buffer = io.StringIO()
        write_compare_csv(first, second, buffer)
        click.echo(buffer.getvalue(), nl=False)
    else:
        for line in compare_lines(first, second):
            click.echo(line)
