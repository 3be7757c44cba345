"""The audit log: appended to and read, never changed (by the library or the database), exported safely."""

from __future__ import annotations

import csv
import getpass
import inspect
import io
from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from newsletter.safe_text import unescape_spreadsheet_cell
from newsletter.store.schema import audit_log
from newsletter.workspace import audit
from newsletter.workspace.audit import CSV_HEADER, Actor, iter_entries, recent_entries, record, write_csv
from tests.workspace.conftest import NOW, MakeUser


@pytest.fixture
def ann(make_user: MakeUser) -> Actor:
    return make_user("ann@kommune.dk").actor("10.0.0.7")


def test_entries_are_read_newest_first_and_page_back(engine: Engine, ann: Actor) -> None:
    with engine.begin() as conn:
        for number in range(5):
            record(conn, ann, "issue.saved", f"2021-01-0{number + 1}-nyt", {"bytes": number}, now=NOW)
        record(conn, Actor(None, "cli:jrau"), "list.created", "erhverv", now=NOW)
    with engine.connect() as conn:
        newest = recent_entries(conn, limit=3)
        older = recent_entries(conn, limit=3, before_id=newest[-1].id)
        saved = recent_entries(conn, action="issue.saved")
        by_ann = recent_entries(conn, user_id=ann.user_id)
    assert [entry.subject for entry in newest] == ["erhverv", "2021-01-05-nyt", "2021-01-04-nyt"]
    assert [entry.subject for entry in older] == ["2021-01-03-nyt", "2021-01-02-nyt", "2021-01-01-nyt"]
    assert len(saved) == len(by_ann) == 5
    assert (newest[1].actor, newest[1].ip, newest[1].detail, newest[1].at) == (
        "ann@kommune.dk",
        "10.0.0.7",
        {"bytes": 4},
        NOW,
    )


def test_only_known_actions_are_recorded(engine: Engine, ann: Actor) -> None:
    with pytest.raises(ValueError, match="unknown audit action"), engine.begin() as conn:
        record(conn, ann, "issue.deleted_quietly")


def test_the_library_has_no_way_to_change_or_delete_an_entry() -> None:
    public = [name for name, _ in inspect.getmembers(audit, inspect.isfunction) if not name.startswith("_")]
    assert not [
        name for name in public if any(word in name for word in ("update", "delete", "remove", "edit"))
    ]
    source = inspect.getsource(audit)
    assert "audit_log.update" not in source and "audit_log.delete" not in source


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_the_database_refuses_a_change_made_behind_the_librarys_back(
    engine: Engine, ann: Actor, statement: str
) -> None:
    with engine.begin() as conn:
        record(conn, ann, "issue.sent", "nyt", {"list": "erhverv"}, now=NOW)
        before = recent_entries(conn)
    change = (
        audit_log.update().values(actor="someone-else")
        if statement == "update"
        else audit_log.delete().where(audit_log.c.id == before[0].id)
    )
    with pytest.raises(IntegrityError, match="append-only"), engine.begin() as conn:
        conn.execute(change)
    with engine.connect() as conn:
        assert recent_entries(conn) == before


def test_export_escapes_formulas_and_reads_back_unchanged(
    engine: Engine, ann: Actor, make_user: MakeUser
) -> None:
    hostile = "=cmd|' /C calc'!A0"
    plus = make_user("+45@kommune.dk")
    with engine.begin() as conn:
        record(
            conn,
            plus.actor("10.0.0.9"),
            "subscribers.imported",
            hostile,
            {"note": "@SUM(1)"},
            now=NOW,
        )
        record(conn, ann, "issue.sent", "nyt", now=NOW + timedelta(hours=1))
    out = io.StringIO()
    with engine.connect() as conn:
        assert write_csv(iter_entries(conn, since=NOW), out, delimiter=";") == 2
    rows = list(csv.reader(io.StringIO(out.getvalue()), delimiter=";"))
    assert rows[0] == list(CSV_HEADER)
    first = rows[1]
    assert first[5] == "'" + hostile
    assert first[3] == "'+45@kommune.dk"
    assert not any(cell[:1] in "=+-@" for row in rows for cell in row if cell)
    assert [unescape_spreadsheet_cell(cell) for cell in first] == [
        first[0],
        "2021-01-04 09:00:00",
        str(plus.id),
        "+45@kommune.dk",
        "subscribers.imported",
        hostile,
        '{"note": "@SUM(1)"}',
        "10.0.0.9",
    ]


def test_export_picks_a_time_range(engine: Engine, ann: Actor) -> None:
    with engine.begin() as conn:
        for hours in range(4):
            record(conn, ann, "issue.saved", f"at-{hours}", now=NOW + timedelta(hours=hours))
    with engine.connect() as conn:
        picked = list(iter_entries(conn, since=NOW + timedelta(hours=1), until=NOW + timedelta(hours=3)))
    assert [entry.subject for entry in picked] == ["at-1", "at-2"]


def test_the_command_line_is_named_with_the_os_user() -> None:
    assert Actor.cli() == Actor(None, f"cli:{getpass.getuser()}")
