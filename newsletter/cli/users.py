"""The ``users`` commands: the people who use the /admin workspace, managed from the command line.

A thin layer over :mod:`newsletter.workspace`. Every change is recorded in the
audit log with the actor ``cli:<os user>``; library errors propagate and are
printed by the ``newsletter`` group as one ``Error: …`` line.
"""

from __future__ import annotations

from datetime import datetime

import click

from newsletter.cli.context import settings_of
from newsletter.cli.lists import StoreCommands, store_engine
from newsletter.cli.subscribers import output_file
from newsletter.config import Settings
from newsletter.safe_text import terminal_text
from newsletter.store.lists import utcnow
from newsletter.workspace.audit import Actor, iter_entries, recent_entries, record, write_csv
from newsletter.workspace.links import PasswordLink, invite_user, reset_password
from newsletter.workspace.users import (
    UserRow,
    all_users,
    change_role,
    disable_user,
    enable_user,
    find_user,
)

ROLE_HELP = "editor (drafts, previews, checks, tests to self), sender (also sends to lists), admin (also lists, subscribers, users)."


def _print_link(link: PasswordLink, settings: Settings) -> None:
    click.echo(
        f"Their one-time link to choose a password (it works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC):"
    )
    click.echo(link.url(settings))
    if not settings.admin.enabled:
        click.echo(
            "Note: the workspace is turned off ([admin] enabled = false in newsletter.toml); "
            "turn it on for the link to open.",
            err=True,
        )


def _when(moment: datetime | None) -> str:
    return "never" if moment is None else f"{moment:%Y-%m-%d %H:%M}"


@click.group("users", cls=StoreCommands)
def users_group() -> None:
    """Add, list, disable, enable and reset the people who use the /admin workspace.

    Roles: editor drafts, previews, checks and sends tests to themselves;
    sender also sends to lists and schedules; admin also manages lists,
    subscribers and users.

    Example:

        newsletter users add jens@ballerup.dk --role editor --name "Jens Hansen"
    """


@users_group.command("add")
@click.argument("email")
@click.option("--role", required=True, metavar="editor|sender|admin", help=ROLE_HELP)
@click.option("--name", default="", help="The person's name, as the workspace shows it.")
@click.option(
    "--language", default="da", show_default=True, metavar="da|en", help="The workspace's language for them."
)
@click.pass_context
def users_add(ctx: click.Context, email: str, role: str, name: str, language: str) -> None:
    """Add a user and print the one-time link with which they choose their password.

    The link works once, for 72 hours; send it to the person only.

    Example:

        newsletter users add jens@ballerup.dk --role editor --name "Jens Hansen"
    """
    settings = settings_of(ctx)
    with store_engine(ctx).begin() as conn:
        link = invite_user(conn, email, role, actor=Actor.cli(), name=name, language=language)
    click.echo(f"Added {terminal_text(link.user.email)} as {link.user.role}.")
    _print_link(link, settings)


@users_group.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Show every user: email, name, role, two-factor sign-in, last sign-in, disabled.

    Example:

        newsletter users list
    """
    with store_engine(ctx).connect() as conn:
        people = all_users(conn)
    if not people:
        click.echo(
            "No workspace users yet. Add the first admin with: newsletter users add EMAIL --role admin"
        )
        return
    header = ("email", "name", "role", "2FA", "last login (UTC)", "disabled")
    rows = [header, *(_list_row(person) for person in people)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header) - 1)]
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        click.echo("  ".join([*cells, row[-1]]))


def _list_row(person: UserRow) -> tuple[str, ...]:
    disabled = "yes" if person.disabled else "no"
    if not person.disabled and person.locked_until is not None and person.locked_at(utcnow()):
        disabled = f"no (locked until {person.locked_until:%H:%M})"
    return (
        terminal_text(person.email),
        terminal_text(person.name),
        person.role,
        "on" if person.totp_enabled else "off",
        _when(person.last_login_at),
        disabled,
    )


@users_group.command("disable")
@click.argument("email")
@click.pass_context
def users_disable(ctx: click.Context, email: str) -> None:
    """Stop a user from signing in, and sign them out everywhere now.

    Example:

        newsletter users disable jens@ballerup.dk
    """
    with store_engine(ctx).begin() as conn:
        user = disable_user(conn, find_user(conn, email), actor=Actor.cli())
    click.echo(f"Disabled {terminal_text(user.email)}: signed out everywhere, and cannot sign in.")


@users_group.command("enable")
@click.argument("email")
@click.pass_context
def users_enable(ctx: click.Context, email: str) -> None:
    """Let a disabled or locked-out user sign in again.

    Example:

        newsletter users enable jens@ballerup.dk
    """
    with store_engine(ctx).begin() as conn:
        user = enable_user(conn, find_user(conn, email), actor=Actor.cli())
    click.echo(f"Enabled {terminal_text(user.email)}: they can sign in again.")


@users_group.command("reset")
@click.argument("email")
@click.option(
    "--remove-2fa",
    "remove_totp",
    is_flag=True,
    help="Also remove their two-factor sign-in (a lost phone); they may set it up again.",
)
@click.pass_context
def users_reset(ctx: click.Context, email: str, remove_totp: bool) -> None:
    """Forget a user's password, sign them out everywhere, and print a new set-password link.

    Example:

        newsletter users reset jens@ballerup.dk --remove-2fa
    """
    settings = settings_of(ctx)
    with store_engine(ctx).begin() as conn:
        before = find_user(conn, email)
        link = reset_password(conn, before, actor=Actor.cli(), remove_totp=remove_totp)
    removed = " and two-factor sign-in" if remove_totp and before.totp_enabled else ""
    click.echo(
        f"Reset the password{removed} of {terminal_text(link.user.email)}: the old password no longer "
        "works, and they are signed out everywhere."
    )
    _print_link(link, settings)


@users_group.command("role")
@click.argument("email")
@click.argument("role", metavar="editor|sender|admin")
@click.pass_context
def users_role(ctx: click.Context, email: str, role: str) -> None:
    """Change a user's role.

    Example:

        newsletter users role jens@ballerup.dk sender
    """
    with store_engine(ctx).begin() as conn:
        before = find_user(conn, email)
        after = change_role(conn, before, role, actor=Actor.cli())
    if after.role == before.role:
        click.echo(f"{terminal_text(after.email)} is {after.role} already.")
    else:
        click.echo(f"{terminal_text(after.email)} is now {after.role} (was {before.role}).")


@users_group.command("audit")
@click.option(
    "--limit", default=50, show_default=True, type=click.IntRange(1, 10_000), help="Entries to show."
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write the whole log as CSV to this file.")
@click.option(
    "--excel", is_flag=True, help="With --out: ';'-separated with a UTF-8 BOM, as Danish Excel opens it."
)
@click.pass_context
def users_audit(ctx: click.Context, limit: int, out: str | None, excel: bool) -> None:
    """Show the workspace's audit log (newest first), or export all of it as CSV.

    Example:

        newsletter users audit --out revision.csv --excel
    """
    engine = store_engine(ctx)
    if out is None:
        with engine.connect() as conn:
            entries = recent_entries(conn, limit=limit)
        if not entries:
            click.echo("The audit log is empty.")
        for entry in entries:
            detail = " ".join(f"{key}={value}" for key, value in sorted(entry.detail.items()))
            click.echo(
                terminal_text(
                    f"{entry.at:%Y-%m-%d %H:%M:%S}  {entry.actor}  {entry.action}  {entry.subject}  "
                    f"{entry.ip or '-'}  {detail}".rstrip()
                )
            )
        return
    with (
        engine.begin() as conn,
        output_file(out, str(engine.url), encoding="utf-8-sig" if excel else "utf-8") as handle,
    ):
        count = write_csv(iter_entries(conn), handle, delimiter=";" if excel else ",")
        record(conn, Actor.cli(), "audit.exported", out, {"entries": count})
    click.echo(f"Wrote {count} audit entries to {out}.")
