"""Seed a benchmark database fast: one list of subscribed people, an issue sent to all of them.

The rows go in through each database's bulk path inside one transaction —
``COPY`` on PostgreSQL, one ``executemany`` on SQLite — not through the
library's one-person-at-a-time functions, so 100,000 people take seconds. The list itself is made by the
library (:func:`newsletter.store.lists.create_list`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, Table, create_engine, select, text
from sqlalchemy.engine import make_url

from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.lists import create_list, utcnow
from newsletter.store.schema import deliveries, memberships, new_link_key, sends, subscribers

# The benchmarks' subscribers: a full-size list, with the Danish names a municipality's list holds.
PG_ENV = "NEWSLETTER_TEST_DATABASE_URL"
ROWS = 100_000
FIRST_NAMES = ("Søren", "Åse", "Jens", "Mette", "Birgitte", "Ole", "Lærke", "Bjørn", "Kirsten", "Mads")
LAST_NAMES = ("Ærø", "Løvstrøm", "Hansen", "Østergaard", "Aastrup", "Nielsen", "Bøgh", "Jørgensen")


@dataclass(frozen=True)
class SeededList:
    list_id: int
    # (delivery id, subscriber id) of every ledger row, in id order.
    ledger: list[tuple[int, int]]


def bulk_insert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` the fastest way the database offers."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    names = list(rows[0])
    as_json = {name for name in names if table.c[name].type.__class__.__name__ == "JSON"}
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([json.dumps(row[n]) if n in as_json else row[n] for n in names])


def seed_sent_list(engine: Engine, list_name: str, count: int, issue: str) -> SeededList:
    """A list with ``count`` subscribed people (person{i}@example.com) and a finished send of ``issue``
    to it, with one sent delivery each."""
    now = utcnow()
    with engine.begin() as conn:
        the_list = create_list(conn, list_name, list_name.capitalize(), "", "da", "bench")
        bulk_insert(
            conn,
            subscribers,
            [
                {
                    "email": f"person{i}@example.com",
                    "email_hash": email_hash(f"person{i}@example.com"),
                    "language": "da",
                    "attributes": {},
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    "link_key": new_link_key(),
                }
                for i in range(count)
            ],
        )
        people = conn.execute(
            select(subscribers.c.id, subscribers.c.email_hash).order_by(subscribers.c.id)
        ).all()
        bulk_insert(
            conn,
            memberships,
            [
                {
                    "subscriber_id": p.id,
                    "list_id": the_list.id,
                    "state": "subscribed",
                    "created_at": now,
                    "updated_at": now,
                }
                for p in people
            ],
        )
        send_id = conn.execute(
            sends.insert()
            .values(
                issue=issue,
                list_id=the_list.id,
                subject="Bench",
                provider="mailgun",
                status="done",
                created_at=now,
                finished_at=now,
            )
            .returning(sends.c.id)
        ).scalar_one()
        bulk_insert(
            conn,
            deliveries,
            [
                {
                    "send_id": send_id,
                    "issue": issue,
                    "subscriber_id": p.id,
                    "email_hash": p.email_hash,
                    "state": "sent",
                    "attempts": 1,
                    "provider": "mailgun",
                    "created_at": now,
                    "updated_at": now,
                    "sent_at": now,
                }
                for p in people
            ],
        )
        ledger = conn.execute(
            select(deliveries.c.id, deliveries.c.subscriber_id).order_by(deliveries.c.id)
        ).all()
    return SeededList(the_list.id, [(row.id, row.subscriber_id) for row in ledger])


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """A database of its own on ``server``, dropped afterwards (nobody else's tables are touched)."""
    name = f"nlbench_{uuid.uuid4().hex[:12]}"
    owner = create_engine(server, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        db.dispose_all()
        with owner.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        owner.dispose()
