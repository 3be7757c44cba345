"""Revision 0007 (workspace users, sessions, audit log): an existing database upgrades with its data,
the audit log refuses changes in the database itself, and the revision can be undone and redone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError

from newsletter.store import db
from newsletter.store.addresses import email_hash
from newsletter.store.schema import rate_limits, subscribers
from tests.store.test_migrations import head_revision

WHEN = datetime(2020, 3, 2, 9, 0, tzinfo=UTC)
WORKSPACE_TABLES = {"users", "user_tokens", "sessions", "audit_log"}


def _at_revision(database_url: str, revision: str) -> Engine:
    engine = db.create(database_url)
    config = db.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return engine


def _downgrade(engine: Engine, revision: str) -> None:
    config = db.alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def _insert_user(conn: Connection, email: str) -> int:
    return conn.execute(
        text(
            "INSERT INTO users (email, email_hash, name, role, language, disabled, failed_logins, "
            "sessions_valid_after, created_at, updated_at) VALUES (:email, :hash, '', 'editor', 'da', "
            "false, 0, :when, :when, :when) RETURNING id"
        ),
        {"email": email, "hash": email_hash(email), "when": WHEN},
    ).scalar_one()


def _insert_entry(conn: Connection, subject: str) -> int:
    return conn.execute(
        text(
            "INSERT INTO audit_log (at, actor, action, subject, detail) "
            "VALUES (:when, 'cli:test', 'user.created', :subject, '{}') RETURNING id"
        ),
        {"when": WHEN, "subject": subject},
    ).scalar_one()


def test_upgrade_from_0006_keeps_the_data_and_adds_the_workspace_tables(database_url: str) -> None:
    old = _at_revision(database_url, "0006")
    with old.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, email_hash, name, language, attributes, status, created_at, "
                "updated_at, link_key, v1_links) VALUES ('søren@æblegården.dk', :hash, 'Søren', 'da', '{}', "
                "'active', :when, :when, 'key-of-soren', false)"
            ),
            {"hash": email_hash("søren@æblegården.dk"), "when": WHEN},
        )
        conn.execute(
            text("INSERT INTO rate_limits (bucket, window_no, hits, expires_at) VALUES ('b', 7, 3, 99)")
        )
    assert not WORKSPACE_TABLES & set(inspect(old).get_table_names())
    old.dispose()

    engine = db.open_engine(database_url)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head_revision()
        assert set(inspect(conn).get_table_names()) >= WORKSPACE_TABLES
        assert conn.execute(select(subscribers.c.email, subscribers.c.link_key)).one() == (
            "søren@æblegården.dk",
            "key-of-soren",
        )
        assert conn.execute(select(rate_limits.c.hits)).scalar_one() == 3


def test_the_database_refuses_to_change_or_delete_an_audit_entry(engine: Engine) -> None:
    with engine.begin() as conn:
        entry = _insert_entry(conn, "jens@kommune.dk")
    for statement in (
        "UPDATE audit_log SET subject = 'someone-else' WHERE id = :id",
        "DELETE FROM audit_log WHERE id = :id",
    ):
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text(statement), {"id": entry})
    if engine.dialect.name == "postgresql":
        with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, subject FROM audit_log")).all() == [(entry, "jens@kommune.dk")]


def test_user_ids_are_never_handed_out_twice(engine: Engine) -> None:
    with engine.begin() as conn:
        first = _insert_user(conn, "ann@kommune.dk")
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": first})
        second = _insert_user(conn, "bo@kommune.dk")
    assert second > first


def test_a_user_with_a_history_cannot_be_deleted(engine: Engine) -> None:
    with engine.begin() as conn:
        user = _insert_user(conn, "ann@kommune.dk")
        conn.execute(
            text(
                "INSERT INTO audit_log (at, user_id, actor, action, subject, detail) "
                "VALUES (:when, :user, 'ann@kommune.dk', 'login.succeeded', '', '{}')"
            ),
            {"when": WHEN, "user": user},
        )
    with pytest.raises(IntegrityError), engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE id = :id"), {"id": user})


def test_downgrade_removes_the_tables_and_the_upgrade_redoes_them(database_url: str) -> None:
    engine = _at_revision(database_url, "0007")
    with engine.begin() as conn:
        _insert_entry(conn, "before")
    _downgrade(engine, "0006")
    assert not WORKSPACE_TABLES & set(inspect(engine).get_table_names())
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            assert (
                conn.execute(
                    text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_log_append_only'")
                ).scalar()
                == 0
            )
    engine.dispose()
    engine = db.open_engine(database_url)
    with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
        entry = _insert_entry(conn, "after")
        conn.execute(text("DELETE FROM audit_log WHERE id = :id"), {"id": entry})
