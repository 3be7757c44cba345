"""The migrations create exactly newsletter.store.schema, and an upgrade keeps the data."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, select, text
from sqlalchemy.engine import make_url

from newsletter.send import schedule, snapshot
from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.audience import iter_audience
from newsletter.store.lists import create_list, get_list
from newsletter.store.schema import POSTGRESQL_ONLY_INDEXES, metadata
from newsletter.store.search import search_subscribers
from newsletter.store.subscribers import add_subscriber, get_subscriber


def head_revision() -> str | None:
    return ScriptDirectory.from_config(db.alembic_config()).get_current_head()


def test_migrated_database_matches_the_schema_module(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": False}
        )
        differences = compare_metadata(context, metadata)
    if engine.dialect.name != "postgresql":  # the trigram indexes of the search are PostgreSQL's alone
        differences = [
            change
            for change in differences
            if not (change[0] == "add_index" and change[1].name in POSTGRESQL_ONLY_INDEXES)
        ]
    assert differences == []


def test_opening_twice_is_a_no_op(database_url: str) -> None:
    db.open_engine(database_url)
    db.dispose_all()
    engine = db.open_engine(database_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()


def test_upgrade_from_the_first_schema_keeps_subscribers(database_url: str) -> None:
    first = db.create(database_url)
    config = db.alembic_config()
    with first.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
    assert "deliveries" not in inspect(first).get_table_names()
    when = datetime(2019, 12, 20, 9, 30, tzinfo=UTC)
    with first.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO lists (id, name, title, description, language, consent_text, created_at) "
                "VALUES (1, 'erhverv', 'Erhvervsnyt', '', 'da', 'Ja tak', :when)"
            ),
            {"when": when},
        )
        conn.execute(
            text(
                "INSERT INTO subscribers (id, email, email_hash, name, language, attributes, status, "
                "created_at, updated_at) VALUES (1, 'søren@æblegården.dk', :hash, 'Søren Ærø', 'da', "
                "'{\"firma\": \"Æblegården\"}', 'active', :when, :when)"
            ),
            {"hash": email_hash("søren@æblegården.dk"), "when": when},
        )
        conn.execute(
            text(
                "INSERT INTO memberships (subscriber_id, list_id, state, created_at, updated_at) "
                "VALUES (1, 1, 'subscribed', :when, :when)"
            ),
            {"when": when},
        )
    first.dispose()

    engine = db.open_engine(database_url)  # migrates to the newest schema on first use
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert {"sends", "deliveries", "events"} <= set(inspect(conn).get_table_names())
        for table in ("deliveries", "sends"):  # 0003: retry delays live in the ledger
            assert "not_before" in {column["name"] for column in inspect(conn).get_columns(table)}
        the_list = get_list(conn, "erhverv")
        assert the_list.consent_text == "Ja tak"
        row = conn.execute(select(metadata.tables["subscribers"])).one()
        assert (row.email, row.name, row.attributes) == (
            "søren@æblegården.dk",
            "Søren Ærø",
            {"firma": "Æblegården"},
        )
    assert [member.email for member in iter_audience(engine, the_list.id)] == ["søren@æblegården.dk"]
    with engine.connect() as conn:
        found = get_subscriber(conn, "Søren@ÆBLEGÅRDEN.dk")
        assert found is not None and found.created_at == when


def test_upgrade_strips_the_signature_from_stored_mailgun_events(database_url: str) -> None:
    old = db.create(database_url)
    config = db.alembic_config()
    with old.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0003")
    signature = {"timestamp": "1700000000", "token": "a" * 50, "signature": "b" * 64}
    stored = [
        ("mailgun", "mg-1", {"signature": signature, "event-data": {"id": "mg-1", "event": "delivered"}}),
        ("postmark", "pm-1", {"RecordType": "Delivery", "signature": "kept: not Mailgun's"}),
    ]
    with old.begin() as conn:
        for provider, event_id, raw in stored:
            conn.execute(
                text(
                    "INSERT INTO events (provider, provider_event_id, type, received_at, detail, raw) "
                    "VALUES (:provider, :event_id, 'delivered', :when, '', :raw)"
                ),
                {
                    "provider": provider,
                    "event_id": event_id,
                    "when": datetime.now(UTC),
                    "raw": json.dumps(raw),
                },
            )
    old.dispose()

    engine = db.open_engine(database_url)
    events = metadata.tables["events"]
    with engine.connect() as conn:
        raws = {row.provider_event_id: row.raw for row in conn.execute(select(events))}
        assert "webhook_tokens" in inspect(conn).get_table_names()
    assert raws["mg-1"] == {"event-data": {"id": "mg-1", "event": "delivered"}}
    assert raws["pm-1"] == stored[1][2]


def test_without_rights_to_pg_trgm_the_search_works_by_reading_the_table(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A database user who may not create extensions still gets every table, and a search."""
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_trgm is PostgreSQL's; SQLite has no trigram indexes either way")
    role = f"nl_plain_{uuid.uuid4().hex[:8]}"
    owner = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with owner.connect() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT CREATE, USAGE ON SCHEMA public TO "{role}"'))
    try:
        engine = db.open_engine(
            make_url(database_url).set(username=role, password=None).render_as_string(False)
        )
        assert "pg_trgm extension could not be created" in caplog.text
        with engine.begin() as conn:
            create_list(conn, "erhverv", "Erhvervsnyt")
            add_subscriber(conn, "bo@oestergaard.dk", "erhverv", name="Bo Østergaard")
        with engine.connect() as conn:
            assert [row.email for row in search_subscribers(conn, "ØSTER").rows] == ["bo@oestergaard.dk"]
            names = {index["name"] for index in inspect(conn).get_indexes("subscribers")}
        assert not names & POSTGRESQL_ONLY_INDEXES
    finally:
        db.dispose_all()
        with owner.connect() as conn:
            conn.execute(text(f'DROP OWNED BY "{role}"'))
            conn.execute(text(f'DROP ROLE "{role}"'))
        owner.dispose()


def test_upgrade_to_0011_keeps_a_send_under_way_which_has_no_frozen_copy_yet(database_url: str) -> None:
    old = db.create(database_url)
    config = db.alembic_config()
    with old.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0010")
    when = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO lists (id, name, title, description, language, consent_text, created_at) "
                "VALUES (1, 'erhverv', 'Erhvervsnyt', '', 'da', 'Ja tak', :when)"
            ),
            {"when": when},
        )
        conn.execute(
            text(
                "INSERT INTO sends (id, issue, list_id, subject, provider, status, created_at) "
                "VALUES (1, '2026-12-24-god-jul', 1, 'God jul', 'outbox', 'sending', :when)"
            ),
            {"when": when},
        )
    old.dispose()

    engine = db.open_engine(database_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        row = conn.execute(select(metadata.tables["sends"])).one()
        assert (row.status, row.scheduled_at, row.timezone) == ("sending", None, None)
        assert snapshot.load(conn, 1, "2026-12-24-god-jul") is None  # frozen on its next run
        assert schedule.waiting_sends(conn) == []
