"""The ``subscribers`` commands: a thin layer over :mod:`newsletter.store`.

Commands that take ``--list`` default to ``[defaults] list`` in newsletter.toml.
Library errors propagate as :class:`~newsletter.errors.NewsletterError` and are
printed by the group as one ``Error: …`` line.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import click

from newsletter.cli.context import LIST_OPTION_HELP, list_name_of
from newsletter.cli.lists import StoreCommands, state_counts, store_engine
from newsletter.dates import LANGUAGES
from newsletter.errors import NotFound, StoreError
from newsletter.safe_text import terminal_text
from newsletter.store.addresses import InvalidAddress, normalise
from newsletter.store.csv_reader import ATTRIBUTE, IGNORED
from newsletter.store.db import refuse_database_file
from newsletter.store.exports import member_rows, write_members_csv
from newsletter.store.imports import ENCODING_NAMES, ImportSummary, import_csv
from newsletter.store.lists import all_lists, get_list
from newsletter.store.schema import CONSENT_METHODS, MEMBERSHIP_STATES
from newsletter.store.subscribers import (
    get_subscriber,
    memberships_of,
    subscribe,
    suppression_reason,
    unsubscribe,
)
from newsletter.store.workbook import XLSX
from newsletter.workspace.audit import Actor
from newsletter.workspace.people import (
    erase_recorded,
    export_data_recorded,
    record_import,
    record_members_export,
)

DELIMITER_NAMES = {",": "','", ";": "';'", "\t": "tab"}


def _address(email: str) -> str:
    try:
        return normalise(email)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from None


@contextmanager
def output_file(out: str | None, database_url: str, *, encoding: str = "utf-8") -> Iterator[IO[str]]:
    """stdout, or a file written beside its target and renamed into place only when complete."""
    if out is None:
        yield sys.stdout
        return
    target = Path(out)
    refuse_database_file(target, database_url)
    if not target.parent.is_dir():
        raise StoreError(f"{target}: folder {target.parent} does not exist — create it or pick another --out")
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with open(descriptor, "w", encoding=encoding, newline="") as handle:
            yield handle
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# --- subscribers -------------------------------------------------------------------------


@click.group("subscribers", cls=StoreCommands)
def subscribers_group() -> None:
    """Add, remove, import, export and erase subscribers.

    Example:

        newsletter subscribers import kunder.csv --list erhverv
    """


@subscribers_group.command("add")
@click.argument("email")
@click.option("--list", "list_name", help=LIST_OPTION_HELP)
@click.option("--name", help="The person's name, used in the greeting.")
@click.option("--lang", "language", type=click.Choice(LANGUAGES), help="Language of the emails they get.")
@click.option(
    "--consent-note", default="", help="When and how they agreed (default: the list's consent text)."
)
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Add again after an unsubscribe or suppression (needs --consent-note).",
)
@click.pass_context
def subscribers_add(
    ctx: click.Context,
    email: str,
    list_name: str | None,
    name: str | None,
    language: str | None,
    consent_note: str,
    resubscribe: bool,
) -> None:
    """Subscribe one address to a list (consent is logged as method 'manual').

    Example:

        newsletter subscribers add jens@firma.dk --list erhverv --name "Jens Hansen" --lang da
    """
    address = _address(email)
    with store_engine(ctx).begin() as conn:
        the_list = get_list(conn, list_name_of(ctx, list_name))
        _, outcome = subscribe(
            conn,
            address,
            the_list,
            name=name,
            language=language,
            method="manual",
            source="cli",
            consent_text=consent_note,
            resubscribe=resubscribe,
        )
    messages = {
        "added": f"Subscribed {address} to {the_list.name!r}.",
        "updated": f"Updated {address} on {the_list.name!r}.",
        "unchanged": f"{address} is already subscribed to {the_list.name!r}; nothing changed.",
    }
    click.echo(messages[outcome])


@subscribers_group.command("remove")
@click.argument("email")
@click.option("--list", "list_name", help=LIST_OPTION_HELP)
@click.option("--all-lists", is_flag=True, help="Unsubscribe from every list.")
@click.pass_context
def subscribers_remove(ctx: click.Context, email: str, list_name: str | None, all_lists: bool) -> None:
    """Unsubscribe an address (recorded with source 'cli'); the profile is kept.

    Example:

        newsletter subscribers remove jens@firma.dk --list erhverv
    """
    address = _address(email)
    with store_engine(ctx).begin() as conn:
        subscriber = get_subscriber(conn, address)
        if subscriber is None:
            raise NotFound(f"{address} is not a subscriber — see 'newsletter subscribers list'")
        list_id = None if all_lists else get_list(conn, list_name_of(ctx, list_name)).id
        changed = unsubscribe(conn, subscriber.id, list_id, source="cli")
    where = "every list" if all_lists else repr(list_name_of(ctx, list_name))
    if changed:
        click.echo(f"Unsubscribed {subscriber.email} from {where}.")
    else:
        click.echo(f"{subscriber.email} was not subscribed to {where}; nothing changed.")


@subscribers_group.command("show")
@click.argument("email")
@click.pass_context
def subscribers_show(ctx: click.Context, email: str) -> None:
    """Show one subscriber: profile, memberships and suppression.

    Example:

        newsletter subscribers show jens@firma.dk
    """
    address = _address(email)
    with store_engine(ctx).connect() as conn:
        subscriber = get_subscriber(conn, address)
        if subscriber is None:
            raise NotFound(f"{address} is not a subscriber — add it with 'newsletter subscribers add'")
        held = memberships_of(conn, subscriber.id)
        suppressed = suppression_reason(conn, subscriber.email_hash)
    # Names and attributes come from sign-up forms and imported files: show, never obey, escapes.
    safe = terminal_text
    click.echo(f"email:       {safe(subscriber.email)}")
    click.echo(f"name:        {safe(subscriber.name or '')}")
    click.echo(f"language:    {subscriber.language}")
    click.echo(f"status:      {subscriber.status}" + (f" (suppressed: {suppressed})" if suppressed else ""))
    click.echo(f"since:       {subscriber.created_at:%Y-%m-%d %H:%M} UTC")
    for key, value in sorted(subscriber.attributes.items()):
        click.echo(f"{safe(key) + ':':<12} {safe(str(value))}")
    for the_list, state in held:
        click.echo(f"list:        {safe(the_list.name)} ({state})")


@subscribers_group.command("list")
@click.option("--list", "list_name", help=LIST_OPTION_HELP)
@click.option("--state", type=click.Choice(MEMBERSHIP_STATES), help="Only members in this state.")
@click.pass_context
def subscribers_list(ctx: click.Context, list_name: str | None, state: str | None) -> None:
    """List the members of a list: email, state, name.

    Example:

        newsletter subscribers list --list erhverv --state pending
    """
    engine = store_engine(ctx)
    with engine.connect() as conn:
        the_list = get_list(conn, list_name_of(ctx, list_name))
    for row in member_rows(engine, the_list.id, state):
        click.echo(f"{terminal_text(row.email)}\t{row.state}\t{terminal_text(row.name or '')}")


@subscribers_group.command("count")
@click.option("--list", "list_name", help="Only this list (default: every list).")
@click.pass_context
def subscribers_count(ctx: click.Context, list_name: str | None) -> None:
    """Count members per list and state; 'mailable' is who a send would reach.

    Example:

        newsletter subscribers count --list erhverv
    """
    engine = store_engine(ctx)
    with engine.connect() as conn:
        chosen = [get_list(conn, list_name)] if list_name else all_lists(conn)
    for the_list in chosen:
        counts = state_counts(engine, the_list.id)
        listed = ", ".join(f"{count} {state}" for state, count in counts.items())
        click.echo(f"{the_list.name}: {listed}")


@subscribers_group.command("export")
@click.option("--list", "list_name", help=LIST_OPTION_HELP)
@click.option("--state", type=click.Choice(MEMBERSHIP_STATES), help="Only members in this state.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.option("--excel", is_flag=True, help="';'-separated with a UTF-8 BOM, as Danish Excel opens it.")
@click.pass_context
def subscribers_export(
    ctx: click.Context, list_name: str | None, state: str | None, out: str | None, excel: bool
) -> None:
    """Export a list's members as CSV (email, name, language, state, subscribed, attributes).

    The file can be imported again with 'newsletter subscribers import'.

    Example:

        newsletter subscribers export --list erhverv --out erhverv.csv
    """
    engine = store_engine(ctx)
    with engine.connect() as conn:
        the_list = get_list(conn, list_name_of(ctx, list_name))
    with output_file(out, str(engine.url), encoding="utf-8-sig" if excel else "utf-8") as handle:
        rows = write_members_csv(engine, the_list.id, handle, state=state, excel=excel)
    with engine.begin() as conn:
        record_members_export(conn, Actor.cli(), the_list.name, rows, excel=excel)
    if out:
        click.echo(f"Exported {the_list.name!r} to {out}.", err=True)


def _report_import(summary: ImportSummary) -> None:
    for problem in summary.rejected:
        click.echo(f"{summary.path}:{problem.line}: rejected: {problem.reason}", err=True)
    for problem in summary.duplicates:
        click.echo(f"{summary.path}:{problem.line}: duplicate: {problem.reason}", err=True)
    click.echo(f"Read {summary.path} as {_read_as(summary)}.")
    if summary.dry_run:
        click.echo(f"Columns: {_column_roles(summary)}.")
    click.echo(f"Imported: {summary.describe()}.")
    skipped = summary.skipped_suppressed + summary.skipped_unsubscribed
    if skipped:
        click.echo(
            f"{skipped} address(es) were not re-subscribed because they unsubscribed or are suppressed; "
            "only with their renewed consent: --resubscribe --consent-note TEXT."
        )


def _read_as(summary: ImportSummary) -> str:
    if summary.kind == XLSX:
        others = ", ".join(repr(terminal_text(name)) for name in summary.other_sheets)
        unread = f"; the other sheets ({others}) are not read" if others else ""
        return f"an Excel workbook, sheet {terminal_text(summary.sheet)!r}{unread}"
    encoding = ENCODING_NAMES.get(summary.encoding, summary.encoding)
    delimiter = DELIMITER_NAMES.get(summary.delimiter, summary.delimiter)
    return f"{encoding}, {delimiter}-separated"


def _column_roles(summary: ImportSummary) -> str:
    """What each column of the header row became, for a dry run: 'E-mail' = email, 'Firma' kept, …"""
    described = []
    for column in summary.columns:
        header = repr(terminal_text(column.header))
        if column.role == ATTRIBUTE:
            described.append(f"{header} kept as an attribute")
        elif column.role != IGNORED:
            described.append(f"{header} = {column.role}")
    return ", ".join(described)


@subscribers_group.command("import")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--list", "list_name", help=LIST_OPTION_HELP)
@click.option("--consent-note", default="", help="When and how these people agreed (logged per row).")
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Also re-subscribe unsubscribed/suppressed rows (needs --consent-note).",
)
@click.option("--method", type=click.Choice(CONSENT_METHODS), default="import", show_default=True)
@click.option("--dry-run", is_flag=True, help="Check and count everything, save nothing.")
@click.option(
    "--chunk-size",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Rows saved per commit. Default: 1,000 at first, growing to 16,000.",
)
@click.pass_context
def subscribers_import(
    ctx: click.Context,
    file: Path,
    list_name: str | None,
    consent_note: str,
    resubscribe: bool,
    method: str,
    dry_run: bool,
    chunk_size: int | None,
) -> None:
    """Import subscribers from a CSV file or an Excel workbook (.xlsx).

    CSV may be UTF-8 (with or without BOM), UTF-16 or Windows-1252, with ',',
    ';' or tab between fields; of a workbook the first sheet is read (values,
    not formulas), and its row numbers are the line numbers reported. An old
    .xls or a password-protected workbook must be saved as .xlsx or CSV first.
    The header needs an 'email' column ('e-mail' works too); 'name'/'navn' and
    'language'/'sprog' are optional; other columns are kept as attributes.
    Invalid rows are reported by line and skipped. Rows are saved in committed
    chunks: if an import stops half-way, run it again — saved rows count as
    unchanged. Addresses that unsubscribed or are suppressed stay out unless
    --resubscribe is given with --consent-note.

    Example:

        newsletter subscribers import kunder.csv --list erhverv --consent-note "Tilmeldt på Erhvervsmessen 2019"

        newsletter subscribers import medlemmer.xlsx --list erhverv --dry-run
    """
    list_name = list_name_of(ctx, list_name)
    on_terminal = sys.stderr.isatty()
    engine = store_engine(ctx)
    refuse_database_file(file, str(engine.url))
    summary = import_csv(
        engine,
        file,
        list_name,
        resubscribe=resubscribe,
        consent_note=consent_note,
        method=method,
        chunk_size=chunk_size,
        dry_run=dry_run,
        progress=_show_progress if on_terminal else None,
    )
    if on_terminal and summary.last_committed_line:
        click.echo("", err=True)  # end the progress line
    if not dry_run:
        with engine.begin() as conn:
            record_import(conn, Actor.cli(), list_name, file.name, summary, resubscribe=resubscribe)
    _report_import(summary)


def _show_progress(summary: ImportSummary) -> None:
    """A live line on a terminal, so a 100,000-row import visibly moves."""
    click.echo(f"\r… line {summary.last_committed_line:,} saved", nl=False, err=True)


@subscribers_group.command("export-data")
@click.argument("email")
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file instead of stdout.")
@click.pass_context
def subscribers_export_data(ctx: click.Context, email: str, out: str | None) -> None:
    """Print everything held about one person as JSON (GDPR access request).

    Profile, memberships, consent log, suppression, deliveries and provider events.

    Example:

        newsletter subscribers export-data jens@firma.dk --out jens.json
    """
    engine = store_engine(ctx)
    # Recorded in the audit log only once the file is written: one transaction for both.
    with engine.begin() as conn, output_file(out, str(engine.url)) as handle:
        data = export_data_recorded(conn, _address(email), Actor.cli())
        handle.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


@subscribers_group.command("erase")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def subscribers_erase(ctx: click.Context, email: str, yes: bool) -> None:
    """Erase a person (GDPR): delete their data, keep only a hashed block on the address.

    The address can never be mailed again, not even by a later import, unless it
    is re-subscribed with --resubscribe and a consent note.

    Example:

        newsletter subscribers export-data jens@firma.dk --out jens.json
        newsletter subscribers erase jens@firma.dk --yes
    """
    address = _address(email)
    engine = store_engine(ctx)
    if not yes:
        click.confirm(f"Erase everything held about {address}? This cannot be undone", abort=True, err=True)
    with engine.begin() as conn:
        result = erase_recorded(conn, address, Actor.cli())
    click.echo(
        f"Erased {result.address}: profile {'deleted' if result.had_profile else 'absent'}, "
        f"{result.memberships} membership(s), {result.consent_rows} consent record(s), "
        f"{result.events} event(s) deleted, {result.deliveries_detached} delivery record(s) anonymised; "
        "the address stays blocked by its hash."
    )
