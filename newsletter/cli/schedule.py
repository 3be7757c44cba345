"""``newsletter schedule list`` and ``schedule cancel``: the sends waiting for their time.

A send is scheduled with ``newsletter send ISSUE --list NAME --at "…"``; the
logic lives in :mod:`newsletter.send.schedule`.
"""

from __future__ import annotations

import click

from newsletter.cli.context import LIST_OPTION_HELP, list_name_of, settings_of
from newsletter.cli.send import issue_key
from newsletter.send.schedule import cancel, local_text, waiting_sends
from newsletter.store.db import open_engine


@click.group("schedule")
def schedule_group() -> None:
    """Sends waiting for their time: list them, or call one off.

    Example:

    \b
        newsletter send 2019-12-20-tak-for-et-godt-2019 --list erhverv --at "2026-12-24 08:00"
        newsletter schedule list
        newsletter schedule cancel 2019-12-20-tak-for-et-godt-2019 --list erhverv
    """


@schedule_group.command("list")
@click.pass_context
def list_command(ctx: click.Context) -> None:
    """Every scheduled send, soonest first: issue, list, when (local time and UTC), recipients.

    Example:

    \b
        newsletter schedule list
    """
    settings = settings_of(ctx)
    with open_engine(settings.database_url).connect() as conn:
        waiting = waiting_sends(conn)
    if not waiting:
        click.echo(
            'No sends are scheduled. Schedule one with: newsletter send ISSUE --list NAME --at "YYYY-MM-DD HH:MM"'
        )
        return
    rows = [
        (
            send.issue,
            send.list_name,
            f"{local_text(send.at, send.zone)} {send.zone}",
            f"{send.at:%Y-%m-%d %H:%M} UTC",
            str(send.recipients),
        )
        for send in waiting
    ]
    header = ("ISSUE", "LIST", "WHEN", "UTC", "RECIPIENTS")
    widths = [max(len(row[column]) for row in [header, *rows]) for column in range(len(header))]
    for row in [header, *rows]:
        click.echo("  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip())


@schedule_group.command("cancel")
@click.argument("issue")
@click.option("--list", "list_name", metavar="NAME", help=LIST_OPTION_HELP)
@click.pass_context
def cancel_command(ctx: click.Context, issue: str, list_name: str | None) -> None:
    """Call off the scheduled send of ISSUE to a list: it never fires, nobody gets it.

    Its queued messages are removed; sending or scheduling it again later
    starts afresh from the issue file as it is then.

    Example:

    \b
        newsletter schedule cancel 2019-12-20-tak-for-et-godt-2019 --list erhverv
    """
    settings = settings_of(ctx)
    list_name = list_name_of(ctx, list_name)
    cancelled = cancel(open_engine(settings.database_url), issue_key(settings, issue), list_name)
    click.echo(
        f"Cancelled: {cancelled.send.issue} to list {list_name}, which was scheduled for "
        f"{cancelled.send.when}. Nothing was sent; {cancelled.removed} queued message(s) removed."
    )
