"""The suppression list: hashes of addresses that must never be mailed, on any list.

Keyed by :func:`newsletter.store.addresses.email_hash`, so an entry says
nothing readable about the person and outlives their erasure. Bounces and
complaints also set the subscriber's global status. Functions take a
:class:`sqlalchemy.Connection`; the caller owns the transaction.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.errors import StoreError
from newsletter.store.addresses import email_hash, normalise
from newsletter.store.lists import utcnow
from newsletter.store.schema import SUPPRESSION_REASONS, subscribers, suppressions

_HASH_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def _hash_of(email_or_hash: str) -> str:
    value = email_or_hash.strip()
    if _HASH_PATTERN.match(value):
        return value
    return email_hash(normalise(value))


def suppress(conn: Connection, email_or_hash: str, reason: str, detail: str = "") -> None:
    """Put an address (or its hash) on the suppression list; the newest reason wins."""
    if reason not in SUPPRESSION_REASONS:
        raise StoreError(f"suppression reason {reason!r} is not one of: {', '.join(SUPPRESSION_REASONS)}")
    values = {
        "email_hash": _hash_of(email_or_hash),
        "reason": reason,
        "detail": detail or "",
        "created_at": utcnow(),
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(suppressions).values(**values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[suppressions.c.email_hash],
            set_={"reason": statement.excluded.reason, "detail": statement.excluded.detail},
        )
    )


def suppression_reason(conn: Connection, hashed: str) -> str | None:
    query = select(suppressions.c.reason).where(suppressions.c.email_hash == hashed)
    return conn.execute(query).scalar_one_or_none()


def is_suppressed(conn: Connection, email_hash: str) -> bool:
    return suppression_reason(conn, email_hash) is not None


def _mark(conn: Connection, subscriber_id: int, status: str, detail: str) -> None:
    hashed = conn.execute(
        select(subscribers.c.email_hash).where(subscribers.c.id == subscriber_id)
    ).scalar_one_or_none()
    if hashed is None:
        return
    conn.execute(
        subscribers.update()
        .where(subscribers.c.id == subscriber_id)
        .values(status=status, updated_at=utcnow())
    )
    suppress(conn, hashed, status, detail)


def mark_bounced(conn: Connection, subscriber_id: int, detail: str) -> None:
    """A hard bounce: never mail this address again, on any list."""
    _mark(conn, subscriber_id, "bounced", detail)


def mark_complained(conn: Connection, subscriber_id: int, detail: str) -> None:
    """A spam complaint: never mail this address again, on any list."""
    _mark(conn, subscriber_id, "complained", detail)
