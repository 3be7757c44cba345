"""The ``lists`` commands, and what the store's command groups share.

Library errors propagate as :class:`~newsletter.errors.NewsletterError` and are
printed by the ``newsletter`` group as one ``Error: …`` line; unexpected
database failures are turned into one too (:class:`StoreCommands`).
"""

from __future__ import annotations

from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from newsletter.cli.context import settings_of
from newsletter.dates import LANGUAGES
from newsletter.errors import StoreError
from newsletter.safe_text import terminal_text
from newsletter.store import db
from newsletter.store.audience import membership_counts
from newsletter.store.lists import all_lists, create_list, delete_list, get_list


def store_engine(ctx: click.Context) -> Engine:
    return db.open_engine(settings_of(ctx).database_url)


def state_counts(engine: Engine, list_id: int) -> dict[str, int]:
    with engine.connect() as conn:
        return membership_counts(conn, list_id)


class StoreCommands(click.Group):
    """A command group whose unexpected database failures become one ``Error:`` line too."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise StoreError(
                f"the database failed: {cause} — this command's changes were rolled back; try again"
            ) from exc


# --- lists -------------------------------------------------------------------------------


@click.group("lists", cls=StoreCommands)
def lists_group() -> None:
    """Create, show and delete mailing lists.

    Example:

        newsletter lists create erhverv --title "Erhvervsnyt fra Ballerup"
    """


@lists_group.command("create")
@click.argument("name")
@click.option("--title", required=True, help="Title shown on the sign-up page.")
@click.option("--description", default="", help="Description shown on the sign-up page.")
@click.option("--language", type=click.Choice(LANGUAGES), default="da", show_default=True)
@click.option("--consent-text", default="", help="The consent text people agree to when they sign up.")
@click.pass_context
def lists_create(
    ctx: click.Context, name: str, title: str, description: str, language: str, consent_text: str
) -> None:
    """Create a mailing list.

    Example:

        newsletter lists create erhverv --title "Erhvervsnyt" --consent-text "Ja tak, send mig nyhedsbrevet"
    """
    with store_engine(ctx).begin() as conn:
        created = create_list(conn, name, title, description, language, consent_text)
    click.echo(f"Created list {created.name!r}: {created.title}")


@lists_group.command("show")
@click.argument("name", required=False)
@click.pass_context
def lists_show(ctx: click.Context, name: str | None) -> None:
    """Show every list with its member counts, or one list in detail.

    Example:

        newsletter lists show erhverv
    """
    engine = store_engine(ctx)
    if name is None:
        with engine.connect() as conn:
            rows = all_lists(conn)
        if not rows:
            click.echo("No lists yet. Create one with: newsletter lists create NAME --title TITLE")
            return
        click.echo(f"{'list':<16} {'mailable':>9} {'pending':>8} {'unsubscribed':>13}  title")
        for row in rows:
            counts = state_counts(engine, row.id)
            click.echo(
                f"{row.name:<16} {counts['mailable']:>9} {counts['pending']:>8} "
                f"{counts['unsubscribed']:>13}  {terminal_text(row.title)}"
            )
        return
    with engine.connect() as conn:
        row = get_list(conn, name)
    counts = state_counts(engine, row.id)
    click.echo(f"list:          {row.name}")
    click.echo(f"title:         {terminal_text(row.title)}")
    click.echo(f"description:   {terminal_text(row.description)}")
    click.echo(f"language:      {row.language}")
    click.echo(f"consent text:  {terminal_text(row.consent_text)}")
    click.echo(f"created:       {row.created_at:%Y-%m-%d %H:%M} UTC")
    click.echo(
        f"members:       {counts['subscribed']} subscribed ({counts['mailable']} mailable), "
        f"{counts['pending']} pending, {counts['unsubscribed']} unsubscribed"
    )


@lists_group.command("delete")
@click.argument("name")
@click.option(
    "--force", is_flag=True, help="Delete even though the list has members (their memberships go too)."
)
@click.pass_context
def lists_delete(ctx: click.Context, name: str, force: bool) -> None:
    """Delete a list; refuses while it has members unless --force.

    Example:

        newsletter subscribers export --list gammel --out gammel.csv
        newsletter lists delete gammel --force
    """
    with store_engine(ctx).begin() as conn:
        delete_list(conn, name, force=force)
    click.echo(f"Deleted list {name!r}.")
