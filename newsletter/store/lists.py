"""Mailing lists: a short name (``erhverv``), a title and description for the sign-up page.

Functions take a :class:`sqlalchemy.Connection`; the caller owns the
transaction. Unknown names raise :class:`NotFound` with the names that do
exist, so a typo on the command line is fixed in one go.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Row, func, select

from newsletter.errors import AlreadyExists, NotFound, StoreError
from newsletter.safe_text import header_text_problem, stored_text_problem
from newsletter.store.schema import lists, memberships

# Lists appear in URLs and on the command line: keep the names plain.
LIST_NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def utcnow() -> datetime:
    """The store's clock: timezone-aware UTC, as the schema's columns expect."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite hands back naive datetimes for aware columns; they were written as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ListRow:
    id: int
    name: str
    title: str
    description: str
    language: str
    consent_text: str
    created_at: datetime


def _row(row: Row) -> ListRow:
    return ListRow(
        id=row.id,
        name=row.name,
        title=row.title,
        description=row.description,
        language=row.language,
        consent_text=row.consent_text,
        created_at=aware(row.created_at),
    )


def _existing_names(conn: Connection) -> list[str]:
    return list(conn.execute(select(lists.c.name).order_by(lists.c.name)).scalars())


def create_list(
    conn: Connection,
    name: str,
    title: str,
    description: str = "",
    language: str = "da",
    consent_text: str = "",
) -> ListRow:
    """Create a list; :class:`AlreadyExists` when the name is taken."""
    if not LIST_NAME_PATTERN.match(name or ""):
        raise StoreError(
            f"list name {name!r} is not usable — use lower-case letters, digits, '-' or '_' "
            "(up to 64), e.g. erhverv"
        )
    if not (title or "").strip():
        raise StoreError(f"list {name!r} needs a title — pass --title, e.g. --title 'Erhvervsnyt'")
    # The title goes into the confirmation email's subject: a mail header.
    problem = header_text_problem(title.strip())
    if problem is not None:
        raise StoreError(f"list {name!r}: the title {problem} — pass --title as one line of plain text")
    for what, text in (("description", description), ("consent text", consent_text)):
        problem = stored_text_problem(text or "")
        if problem is not None:
            raise StoreError(f"list {name!r}: the {what} {problem} — retype it as plain text")
    if conn.execute(select(lists.c.id).where(lists.c.name == name)).first() is not None:
        raise AlreadyExists(
            f"list {name!r} already exists — pick another name or see 'newsletter lists show'"
        )
    values: dict[str, Any] = {
        "name": name,
        "title": title.strip(),
        "description": description or "",
        "language": language or "da",
        "consent_text": consent_text or "",
        "created_at": utcnow(),
    }
    new_id = conn.execute(lists.insert().values(**values).returning(lists.c.id)).scalar_one()
    return ListRow(id=new_id, **values)


def get_list(conn: Connection, name: str) -> ListRow:
    """The list called ``name``; :class:`NotFound` naming the lists that exist."""
    row = conn.execute(select(lists).where(lists.c.name == name)).first()
    if row is None:
        names = _existing_names(conn)
        hint = (
            f"existing lists: {', '.join(names)}"
            if names
            else "there are no lists yet — create one with 'newsletter lists create NAME --title …'"
        )
        raise NotFound(f"list {name!r} does not exist — {hint}")
    return _row(row)


def get_list_by_id(conn: Connection, list_id: int) -> ListRow:
    row = conn.execute(select(lists).where(lists.c.id == list_id)).first()
    if row is None:
        raise NotFound(f"list with id {list_id} does not exist")
    return _row(row)


def all_lists(conn: Connection) -> list[ListRow]:
    return [_row(row) for row in conn.execute(select(lists).order_by(lists.c.name))]


def member_count(conn: Connection, list_id: int) -> int:
    """Memberships in any state (pending, subscribed, unsubscribed)."""
    query = select(func.count()).select_from(memberships).where(memberships.c.list_id == list_id)
    return int(conn.execute(query).scalar_one())


def delete_list(conn: Connection, name: str, force: bool = False) -> None:
    """Delete a list; refuses while it has members unless ``force``.

    With ``force`` the memberships go too (ON DELETE CASCADE). The consent log
    keeps its rows with ``list_id`` NULL: it is the record of what people agreed to.
    """
    row = get_list(conn, name)
    members = member_count(conn, row.id)
    if members and not force:
        raise StoreError(
            f"list {name!r} has {members} member(s) — export them first if needed, then delete with --force"
        )
    conn.execute(lists.delete().where(lists.c.id == row.id))
