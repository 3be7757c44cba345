"""``newsletter check``: the pre-send checks of issues, as text or as one JSON document for CI.

Apart from the author's other commands (:mod:`newsletter.cli.author`), so that
a check loads neither the preview server nor the subscriber store.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from newsletter.checks import Finding, has_errors
from newsletter.checks.files import check_issue_file
from newsletter.checks.spam import spamassassin_program
from newsletter.cli.context import settings_of
from newsletter.config import Settings
from newsletter.errors import CheckError
from newsletter.issue import resolve_issue


def issue_paths(settings: Settings, names: tuple[str, ...]) -> list[Path]:
    """The issues ``names`` name (paths, file names or slugs); none named: every issue, oldest first."""
    if names:
        return [resolve_issue(name, settings) for name in names]
    paths = sorted(settings.issues_dir.glob("*.md"))
    if not paths:
        raise CheckError(
            f"{settings.issues_dir} has no issues — name one, or create one with 'newsletter new'"
        )
    return paths


@click.command("check")
@click.argument("issues", nargs=-1, metavar="[ISSUE]...")
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document for CI.",
)
@click.option(
    "--online", is_flag=True, help="Also check that every link and image answers (uses the network)."
)
@click.pass_context
def check_command(ctx: click.Context, issues: tuple[str, ...], output: str, online: bool) -> None:
    """Run the pre-send checks; exit 8 when any issue has errors (warnings alone exit 0).

    ISSUE is a path, a file name in the issues folder or a slug; without one,
    every issue is checked. The checks are listed in docs/checks.md.

    Example:

        newsletter check 2019-12-20-tak-for-et-godt-2019

        newsletter check --format json --online > checks.json
    """
    settings = settings_of(ctx)
    spamassassin = spamassassin_program()
    # One broken issue is a finding, not the end of the run: the other issues are
    # still checked and --format json stays one valid document for CI.
    report: list[tuple[Path, list[Finding]]] = [
        (path, check_issue_file(path, settings, online=online, spamassassin=spamassassin).findings)
        for path in issue_paths(settings, issues)
    ]
    failed = [path for path, findings in report if has_errors(findings)]
    if output == "json":
        document = {
            "ok": not failed,
            "issues": [
                {
                    "file": str(path),
                    "errors": sum(f.severity == "error" for f in findings),
                    "warnings": sum(f.severity == "warning" for f in findings),
                    "findings": [f.to_dict() for f in findings],
                }
                for path, findings in report
            ],
        }
        click.echo(json.dumps(document, indent=2, ensure_ascii=False))
    else:
        for path, findings in report:
            errors = sum(f.severity == "error" for f in findings)
            summary = (
                f"{errors} error(s), {len(findings) - errors} warning(s)" if findings else "all checks pass"
            )
            click.echo(f"{path}: {summary}")
            for finding in findings:
                click.echo(f"  {finding}")
    if failed:
        names = ", ".join(path.name for path in failed)
        raise CheckError(f"checks found errors in {names} — fix them, then run 'newsletter check' again")
