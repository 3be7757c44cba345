"""Revision 0004 (ids never reused, link keys): an existing database upgrades with all its data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from alembic import command
from itsdangerous import URLSafeSerializer
from sqlalchemy import Engine, func, select, text

from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.schema import consent_log, deliveries, events, memberships, sends, subscribers
from newsletter.store.subscribers import add_subscriber, get_subscriber, subscriber_for_link
from newsletter.tokens import Signer
from tests.conftest import TEST_SECRET_KEY

WHEN = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
PEOPLE = ["ann@example.com", "bo@example.com", "søren@æblegården.dk"]


def _fill_at_0003(database_url: str) -> None:
    """A database at revision 0003 holding a list, people, memberships, consent, a send and events."""
    old = db.create(database_url)
    config = db.alembic_config()
    with old.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO lists (id, name, title, description, language, consent_text, created_at) "
                "VALUES (1, 'erhverv', 'Erhvervsnyt', '', 'da', 'Ja tak', :when)"
            ),
            {"when": WHEN},
        )
        for number, address in enumerate(PEOPLE, start=1):
            conn.execute(
                text(
                    # No explicit id: PostgreSQL's sequence must hand them out (1, 2, 3).
                    "INSERT INTO subscribers (email, email_hash, name, language, attributes, status, "
                    "created_at, updated_at) VALUES (:email, :hash, :name, 'da', '{}', 'active', "
                    ":when, :when)"
                ),
                {
                    "id": number,
                    "email": address,
                    "hash": email_hash(address),
                    "name": f"P{number}",
                    "when": WHEN,
                },
            )
            conn.execute(
                text(
                    "INSERT INTO memberships (subscriber_id, list_id, state, created_at, updated_at) "
                    "VALUES (:id, 1, 'subscribed', :when, :when)"
                ),
                {"id": number, "when": WHEN},
            )
            conn.execute(
                text(
                    "INSERT INTO consent_log (subscriber_id, list_id, action, method, source, consent_text, at) "
                    "VALUES (:id, 1, 'subscribe', 'import', 'ark.csv', 'Ja tak', :when)"
                ),
                {"id": number, "when": WHEN},
            )
        conn.execute(
            text(
                "INSERT INTO sends (id, issue, list_id, subject, provider, status, created_at) "
                "VALUES (1, 'nyt', 1, 'Nyt', 'outbox', 'done', :when)"
            ),
            {"when": WHEN},
        )
        for number, address in enumerate(PEOPLE, start=1):
            conn.execute(
                text(
                    "INSERT INTO deliveries (id, send_id, issue, subscriber_id, email_hash, state, attempts, "
                    "created_at, updated_at) VALUES (:id, 1, 'nyt', :id, :hash, 'sent', 1, :when, :when)"
                ),
                {"id": number, "hash": email_hash(address), "when": WHEN},
            )
        # An erased person's ledger row: no subscriber any more, only the hash.
        conn.execute(
            text(
                "INSERT INTO deliveries (id, send_id, issue, subscriber_id, email_hash, state, attempts, "
                "created_at, updated_at) VALUES (4, 1, 'nyt', NULL, :hash, 'sent', 1, :when, :when)"
            ),
            {"hash": email_hash("gone@example.com"), "when": WHEN},
        )
        conn.execute(
            text(
                "INSERT INTO events (provider, provider_event_id, type, delivery_id, subscriber_id, "
                "received_at, detail, raw) VALUES ('outbox', 'e1', 'delivered', 1, 1, :when, '', '{}')"
            ),
            {"when": WHEN},
        )
    old.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (subscribers, memberships, consent_log, sends, deliveries, events)
        }


def test_upgrade_keeps_every_row_and_gives_everyone_a_link_key(database_url: str) -> None:
    _fill_at_0003(database_url)
    engine = db.open_engine(database_url)  # migrates to the newest schema on first use
    assert _counts(engine) == {
        "subscribers": 3,
        "memberships": 3,
        "consent_log": 3,
        "sends": 1,
        "deliveries": 4,
        "events": 1,
    }
    with engine.connect() as conn:
        rows = conn.execute(select(subscribers).order_by(subscribers.c.id)).all()
        assert [row.email for row in rows] == PEOPLE
        assert all(row.v1_links for row in rows)  # they may hold links mailed before 0004
        keys = [row.link_key for row in rows]
        assert len(set(keys)) == 3 and all(len(key) >= 16 for key in keys)
        ledger = dict(conn.execute(select(deliveries.c.id, deliveries.c.subscriber_id)).all())
        assert ledger == {1: 1, 2: 2, 3: 3, 4: None}
        assert conn.execute(select(events.c.delivery_id, events.c.subscriber_id)).one() == (1, 1)
        if engine.dialect.name == "sqlite":
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on after the rebuild


def test_links_mailed_before_the_upgrade_keep_working_for_their_own_people_only(database_url: str) -> None:
    _fill_at_0003(database_url)
    # What an email sent before the upgrade carries: a version 1 token, id only.
    v1 = URLSafeSerializer(
        TEST_SECRET_KEY, salt="newsletter.unsubscribe.v1", signer_kwargs={"digest_method": hashlib.sha256}
    )
    old_link = v1.dumps([2, 1])
    engine = db.open_engine(database_url)
    claim = Signer().read_unsubscribe(old_link)
    assert claim.link_key is None
    with engine.begin() as conn:
        bo = subscriber_for_link(conn, claim.subscriber_id, claim.link_key)
        assert bo is not None and bo.email == "bo@example.com"
        newcomer = add_subscriber(conn, "new@example.com", "erhverv")
        assert newcomer.id == 4 and not newcomer.v1_links
        assert subscriber_for_link(conn, newcomer.id, None) is None  # no v1 link was ever made for them
        assert subscriber_for_link(conn, newcomer.id, newcomer.link_key) == get_subscriber(
            conn, "new@example.com"
        )
