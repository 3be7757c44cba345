"""``newsletter reconcile``: settle unknown messages from the provider's records (:mod:`newsletter.send.reconcile`)."""

from __future__ import annotations

import click

from newsletter.cli.context import settings_of
from newsletter.cli.send import issue_key
from newsletter.errors import NotFound, SendError
from newsletter.providers.registry import make_provider
from newsletter.send.plan import find_list_id, get_send, sends_of_issue
from newsletter.send.reconcile import Reconciliation, reconcile_send, summary_lines
from newsletter.store.db import open_engine


@click.command("reconcile")
@click.argument("issue")
@click.option("--list", "list_name", metavar="NAME", help="Only the send to this list (default: every list).")
@click.pass_context
def reconcile_command(ctx: click.Context, issue: str, list_name: str | None) -> None:
    """Look up unknown messages of ISSUE in the provider's own records and settle them.

    A message is unknown when a send was interrupted (or the provider's answer
    was lost) while the provider had it. Found in the provider's records: it
    is recorded as sent. Provably not there: it is queued again, and the next
    'newsletter send' delivers it once. Otherwise it stays unknown, with the
    reason (for instance: the provider's records are not complete yet — run
    the command again later). Postmark, Mailgun and SendGrid (with its Email
    Activity add-on) can be asked; see docs/providers.md.

    Exit code 0 when nothing is left unknown, 7 when some messages still are.

    Example:

    \b
        newsletter reconcile 2019-12-20-tak-for-et-godt-2019 --list erhverv
        newsletter send 2019-12-20-tak-for-et-godt-2019 --list erhverv
    """
    settings = settings_of(ctx)
    key = issue_key(settings, issue)
    db = open_engine(settings.database_url)
    with db.connect() as conn:
        if list_name is not None:
            found = get_send(conn, key, find_list_id(conn, list_name))
            sends = [found] if found is not None else []
        else:
            sends = sends_of_issue(conn, key)
    if not sends:
        where = f" to list {list_name!r}" if list_name else ""
        raise NotFound(
            f"{key} has not been sent{where}, so there is nothing to reconcile — see: newsletter status {key}"
        )
    provider = make_provider(settings.provider)
    results: list[Reconciliation] = []
    try:
        for send in sends:
            result = reconcile_send(db, send, provider)
            results.append(result)
            for line in summary_lines(result):
                click.echo(line)
    finally:
        provider.close()
    left = sum(result.still_unknown for result in results)
    if left:
        later = [result.retry_at for result in results if result.retry_at is not None]
        advice = (
            f"run newsletter reconcile {key} again after {max(later):%Y-%m-%d %H:%M} UTC"
            if later
            else f"see the reasons above; newsletter status {key} lists each message"
        )
        raise SendError(f"{left} message(s) of {key} are still unknown — {advice}")
