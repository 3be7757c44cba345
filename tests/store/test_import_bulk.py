"""The import's chunks go in as one statement a table (each column one array's text on PostgreSQL, the
rows one JSON array on SQLite): what that path could get wrong.

Each test runs on SQLite and on PostgreSQL, mostly with small chunks so that a
file of a few lines spans several of them.
"""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, Integer, Text, func, select, text

from newsletter.errors import StoreError
from newsletter.store import imports
from newsletter.store.audience import iter_audience
from newsletter.store.bulk import given_values, insert_rows_with_ids, listed, update_rows
from newsletter.store.imports import import_csv
from newsletter.store.lists import ListRow, aware
from newsletter.store.schema import consent_log, memberships, new_link_keys, subscribers, suppressions
from newsletter.store.subscribers import (
    add_subscriber,
    get_subscriber,
    mark_complained,
    membership_state,
    set_pending,
    suppress,
    unsubscribe,
)


def write(tmp_path: Path, text_: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text_, encoding="utf-8")
    return path


def count(conn: Connection, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def consent_rows(conn: Connection) -> list[tuple[str, str, str, str]]:
    """(address, action, source, consent text) of every consent row, in the order written."""
    return [
        (row.email, row.action, row.source, row.consent_text)
        for row in conn.execute(
            select(
                subscribers.c.email, consent_log.c.action, consent_log.c.source, consent_log.c.consent_text
            )
            .join(subscribers, subscribers.c.id == consent_log.c.subscriber_id)
            .order_by(consent_log.c.id)
        )
    ]


def test_rows_are_stored_as_the_one_by_one_path_stores_them(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    """Every column of subscriber, membership and consent row, including text COPY must escape."""
    sheet = (
        "email;navn;sprog;Adresse;Note\n"
        'søren@æblegården.dk;Søren Ærø;engelsk;"Hovedgaden 1\nBallerup";C:\\temp\\x "citat"\n'
        "mette@firma.dk;;;ind\trykket;\\N\n"
    )
    summary = import_csv(engine, write(tmp_path, sheet), "erhverv", chunk_size=1)
    assert (summary.added, summary.rejected) == (2, [])
    with engine.begin() as conn:
        soeren = get_subscriber(conn, "søren@æblegården.dk")
        mette = get_subscriber(conn, "mette@firma.dk")
        assert soeren is not None and mette is not None
        assert (soeren.email, soeren.name, soeren.language, soeren.status) == (
            "søren@æblegården.dk",
            "Søren Ærø",
            "en",
            "active",
        )
        assert soeren.attributes == {"Adresse": "Hovedgaden 1\nBallerup", "Note": 'C:\\temp\\x "citat"'}
        # No name in the file: none stored (not an empty text), the list's language, the "\N" kept as text.
        assert (mette.name, mette.language, mette.attributes) == (
            None,
            "da",
            {"Adresse": "ind\trykket", "Note": "\\N"},
        )
        for person in (soeren, mette):
            assert person.created_at == person.updated_at
            assert person.v1_links is False
            assert len(person.link_key) == 16
        assert soeren.link_key != mette.link_key
        # The JSON text itself is what SQLAlchemy writes for the same value (someone added one by one).
        twin = add_subscriber(conn, "twin@firma.dk", "erhverv", attributes=soeren.attributes)
        stored = dict(conn.execute(text("SELECT email, CAST(attributes AS TEXT) FROM subscribers")).all())
        assert stored["søren@æblegården.dk"] == stored[twin.email]

        member = conn.execute(select(memberships).where(memberships.c.subscriber_id == soeren.id)).one()
        assert (member.list_id, member.state, member.unsubscribed_at, member.unsubscribe_source) == (
            erhverv.id,
            "subscribed",
            None,
            None,
        )
        # SQLite hands timestamps back without their zone: compare them as the store reads them.
        assert aware(member.created_at) == aware(member.updated_at) == soeren.created_at
        log = conn.execute(select(consent_log).where(consent_log.c.subscriber_id == soeren.id)).one()
        assert (log.list_id, log.action, log.method, log.source, log.consent_text, log.ip) == (
            erhverv.id,
            "subscribe",
            "import",
            "import people.csv line 2",
            "Ja tak til nyhedsbrevet",
            None,
        )
        assert aware(log.at) == soeren.created_at


def test_duplicates_within_a_chunk_and_across_chunks(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    sheet = (
        "email;navn\n"
        "jens@firma.dk;Jens\n"  # line 2
        "  JENS@firma.dk ;Jens igen\n"  # line 3: same chunk as line 2
        "mette@firma.dk;Mette\n"  # line 4
        "ole@firma.dk;Ole\n"  # line 5
        "Jens@FIRMA.DK;Jens tredje gang\n"  # line 6: two chunks later
        "Mette@Firma.dk;Mette igen\n"  # line 7
    )
    summary = import_csv(engine, write(tmp_path, sheet), "erhverv", chunk_size=2)
    assert summary.added == 3
    assert [(problem.line, problem.reason) for problem in summary.duplicates] == [
        (3, "same address as line 2 (JENS@firma.dk) — skipped"),
        (6, "same address as line 2 (Jens@firma.dk) — skipped"),
        (7, "same address as line 4 (Mette@firma.dk) — skipped"),
    ]
    with engine.connect() as conn:
        assert count(conn, subscribers) == 3
        jens = get_subscriber(conn, "JENS@FIRMA.DK")
        assert jens is not None and (jens.email, jens.name) == ("jens@firma.dk", "Jens")
        assert consent_rows(conn) == [
            ("jens@firma.dk", "subscribe", "import people.csv line 2", "Ja tak til nyhedsbrevet"),
            ("mette@firma.dk", "subscribe", "import people.csv line 4", "Ja tak til nyhedsbrevet"),
            ("ole@firma.dk", "subscribe", "import people.csv line 5", "Ja tak til nyhedsbrevet"),
        ]


def test_two_addresses_sharing_the_key_of_the_seen_table_are_two_people(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The table of addresses seen is keyed by 60 bits of the hash; make every address share that
    # key. Only the full 120 bits make a repeat: nobody is taken for somebody else.
    numbers = imports._hash_numbers
    monkeypatch.setattr(imports, "_hash_numbers", lambda hashed: (7, numbers(hashed)[1]))
    sheet = (
        "email;navn\n"
        "jens@firma.dk;Jens\n"  # line 2: notes key 7
        "mette@firma.dk;Mette\n"  # line 3: the same key, another address
        "ole@firma.dk;Ole\n"  # line 4
        "JENS@firma.dk;Jens igen\n"  # line 5: a repeat, found by the key
        "mette@firma.dk;Mette igen\n"  # line 6: not noted under the key, so applied again
    )
    summary = import_csv(engine, write(tmp_path, sheet), "erhverv", chunk_size=2)
    assert (summary.added, summary.unchanged) == (3, 0)
    assert [(problem.line, problem.reason) for problem in summary.duplicates] == [
        (5, "same address as line 2 (JENS@firma.dk) — skipped"),
    ]
    assert summary.updated == 1  # line 6: Mette's name changes, as a second import of her row would
    with engine.connect() as conn:
        assert count(conn, subscribers) == 3
        assert [
            row.email for row in conn.execute(select(subscribers.c.email).order_by(subscribers.c.id))
        ] == [
            "jens@firma.dk",
            "mette@firma.dk",
            "ole@firma.dk",
        ]


def test_new_people_get_the_ids_the_database_gave_them_even_when_another_row_comes_between(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    if engine.dialect.name == "sqlite":
        # SQLite numbers one executemany's rows one after another, and the import counts on it
        # after checking the range. A trigger that adds a row in between breaks the count: the
        # check must see it and look the ids up instead.
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE TRIGGER shadow AFTER INSERT ON subscribers WHEN NEW.email = 'person3@firma.dk' BEGIN "
                "INSERT INTO subscribers (email, email_hash, attributes, status, created_at, updated_at, link_key, v1_links) "
                "VALUES ('skygge@firma.dk', 'skygge', '{}', 'active', NEW.created_at, NEW.created_at, 'skygge', 0); END"
            )
    sheet = "email;navn\n" + "".join(f"person{n}@firma.dk;Person {n}\n" for n in range(40))
    summary = import_csv(engine, write(tmp_path, sheet), "erhverv", chunk_size=16)
    assert summary.added == 40
    with engine.connect() as conn:
        # Each membership and consent row belongs to the person its line named.
        rows = conn.execute(
            select(subscribers.c.email, consent_log.c.source)
            .join(consent_log, consent_log.c.subscriber_id == subscribers.c.id)
            .where(consent_log.c.source.like("import%"))
            .order_by(consent_log.c.id)
        ).all()
        assert [(email, source) for email, source in rows] == [
            (f"person{n}@firma.dk", f"import people.csv line {n + 2}") for n in range(40)
        ]
        members = {
            email
            for (email,) in conn.execute(
                select(subscribers.c.email).join(memberships, memberships.c.subscriber_id == subscribers.c.id)
            )
        }
        assert {f"person{n}@firma.dk" for n in range(40)} <= members


def test_a_variant_of_a_stored_address_is_that_person(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        jens = add_subscriber(conn, "Jens@Firma.dk", "erhverv", name="Jens")
        before = count(conn, consent_log)
    summary = import_csv(engine, write(tmp_path, "email;navn\n  jens@FIRMA.DK ;Jens\n"), "erhverv")
    assert (summary.added, summary.updated, summary.unchanged) == (0, 0, 1)
    with engine.connect() as conn:
        assert count(conn, subscribers) == 1
        again = get_subscriber(conn, "jens@firma.dk")
        assert again is not None and (again.id, again.email) == (jens.id, "Jens@firma.dk")
        assert count(conn, consent_log) == before


def test_suppressed_and_unsubscribed_people_inside_a_bulk_chunk(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    """Refused addresses among many new ones in one chunk stay out; with a consent note they come back."""
    with engine.begin() as conn:
        gone = add_subscriber(conn, "gone@firma.dk", "erhverv")
        unsubscribe(conn, gone.id, erhverv.id, source="one-click")
        angry = add_subscriber(conn, "angry@firma.dk", "erhverv")
        mark_complained(conn, angry.id, "spam report")
        suppress(conn, "erased@firma.dk", "erased")
    people = [f"p{number}@firma.dk" for number in range(30)]
    people[7:7] = ["GONE@firma.dk"]
    people[15:15] = ["angry@Firma.dk"]
    people[22:22] = ["erased@FIRMA.dk "]
    sheet = write(tmp_path, "email\n" + "".join(f"{address}\n" for address in people))
    summary = import_csv(engine, sheet, "erhverv", chunk_size=50)
    assert (summary.added, summary.skipped_unsubscribed, summary.skipped_suppressed) == (30, 1, 2)
    mailed = {member.email for member in iter_audience(engine, erhverv.id)}
    assert mailed == {f"p{number}@firma.dk" for number in range(30)}
    with engine.connect() as conn:
        assert get_subscriber(conn, "erased@firma.dk") is None
        refused_logged = [row for row in consent_rows(conn) if row[0] in ("gone@firma.dk", "angry@firma.dk")]
        assert [action for _, action, _, _ in refused_logged] == ["subscribe", "unsubscribe", "subscribe"]

    note = "Bekræftet pr. telefon 2/3"
    summary = import_csv(engine, sheet, "erhverv", chunk_size=50, resubscribe=True, consent_note=note)
    assert (summary.resubscribed, summary.updated, summary.unchanged) == (3, 2, 30)
    assert summary.added == 1  # erased@firma.dk: nobody was stored, only the hash was suppressed
    with engine.connect() as conn:
        assert count(conn, suppressions) == 0
        angry_now = get_subscriber(conn, "angry@firma.dk")
        gone_now = get_subscriber(conn, "gone@firma.dk")
        assert angry_now is not None and angry_now.status == "active"
        assert gone_now is not None and membership_state(conn, gone_now.id, erhverv.id) == "subscribed"
        member = conn.execute(select(memberships).where(memberships.c.subscriber_id == gone_now.id)).one()
        assert (member.unsubscribed_at, member.unsubscribe_source) == (None, None)
        resubscribed = [row for row in consent_rows(conn) if row[1] == "resubscribe"]
        assert sorted((address, source, consent) for address, _, source, consent in resubscribed) == [
            ("angry@firma.dk", "import people.csv line 17", note),
            ("erased@firma.dk", "import people.csv line 24", note),
            ("gone@firma.dk", "import people.csv line 9", note),
        ]
    assert len(list(iter_audience(engine, erhverv.id))) == 33


def test_a_database_failure_mid_import_then_the_same_import_finishes(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk whose consent rows fail leaves none of its people behind; running again completes."""
    path = write(
        tmp_path, "email;navn\n" + "".join(f"p{number}@firma.dk;P {number}\n" for number in range(10))
    )
    real_insert = imports.insert_rows
    consent_writes: list[int] = []

    def third_consent_write_breaks(conn, table, columns, rows, same=None):  # type: ignore[no-untyped-def]
        if table is consent_log:
            consent_writes.append(1)
            if len(consent_writes) == 3:
                same = {**(same or {}), "method": "carrier-pigeon"}  # refused by the table's CHECK
        real_insert(conn, table, columns, rows, same)

    monkeypatch.setattr(imports, "insert_rows", third_consent_write_breaks)
    with pytest.raises(StoreError, match=r"people.csv:10: the database failed .*rows up to line 9 are saved"):
        import_csv(engine, path, "erhverv", chunk_size=4)
    with engine.connect() as conn:
        # Chunks 1 and 2 (lines 2–9) are saved whole; chunk 3 (lines 10–11) left nothing.
        assert count(conn, subscribers) == count(conn, memberships) == count(conn, consent_log) == 8
        assert get_subscriber(conn, "p8@firma.dk") is None
    monkeypatch.setattr(imports, "insert_rows", real_insert)

    summary = import_csv(engine, path, "erhverv", chunk_size=4)
    assert (summary.added, summary.unchanged) == (2, 8)
    again = import_csv(engine, path, "erhverv", chunk_size=4)
    assert (again.added, again.updated, again.unchanged) == (0, 0, 10)
    with engine.connect() as conn:
        assert count(conn, subscribers) == count(conn, memberships) == count(conn, consent_log) == 10
        sources = sorted(source for _, _, source, _ in consent_rows(conn))
        assert sources == sorted(f"import people.csv line {line}" for line in range(2, 12))


def test_profile_changes_and_unchanged_rows_in_one_chunk(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    first = "email;navn;sprog;Firma;By\n" + "".join(
        f"p{number}@firma.dk;P {number};da;Firma {number};Ballerup\n" for number in range(6)
    )
    import_csv(engine, write(tmp_path, first), "erhverv")
    with engine.connect() as conn:
        before = {row.email: row for row in conn.execute(select(subscribers))}
        logged = count(conn, consent_log)
    second = (
        "email;navn;sprog;Firma;By\n"
        "p0@firma.dk;P 0;da;Firma 0;Ballerup\n"  # the same
        "p1@firma.dk;Ny P 1;;;\n"  # new name; empty cells keep what is stored
        "p2@firma.dk;;engelsk;;\n"  # new language
        "p3@firma.dk;;;Firma ApS;\n"  # one attribute changed
        "p4@firma.dk;P 4;da;Firma 4;Ballerup\n"  # the same
        "p5@firma.dk;;;;Skovlunde\n"  # the other attribute changed
    )
    summary = import_csv(engine, write(tmp_path, second, "changes.csv"), "erhverv")
    assert (summary.added, summary.updated, summary.unchanged) == (0, 4, 2)
    with engine.connect() as conn:
        after = {row.email: row for row in conn.execute(select(subscribers))}
        assert count(conn, consent_log) == logged  # a changed profile is not a new consent
    assert (after["p1@firma.dk"].name, after["p1@firma.dk"].attributes) == (
        "Ny P 1",
        {"Firma": "Firma 1", "By": "Ballerup"},
    )
    assert (after["p2@firma.dk"].name, after["p2@firma.dk"].language) == ("P 2", "en")
    assert after["p3@firma.dk"].attributes == {"Firma": "Firma ApS", "By": "Ballerup"}
    assert after["p5@firma.dk"].attributes == {"Firma": "Firma 5", "By": "Skovlunde"}
    for address in ("p0@firma.dk", "p4@firma.dk"):
        assert after[address] == before[address]
    for address in ("p1@firma.dk", "p2@firma.dk", "p3@firma.dk", "p5@firma.dk"):
        assert after[address].updated_at > before[address].updated_at
        assert (after[address].created_at, after[address].link_key) == (
            before[address].created_at,
            before[address].link_key,
        )


def test_pending_and_new_memberships_of_known_people_in_one_chunk(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    """Known people: one pending on this list, one on another list only, one already subscribed."""
    with engine.begin() as conn:
        set_pending(
            conn, "pending@firma.dk", erhverv.id, name=None, language=None, method="form",
            source="", consent_text="", ip=None,
        )  # fmt: skip
        other = add_subscriber(conn, "other@firma.dk", "erhverv")
        conn.execute(memberships.delete().where(memberships.c.subscriber_id == other.id))
        add_subscriber(conn, "member@firma.dk", "erhverv")
    sheet = write(tmp_path, "email\npending@firma.dk\nother@firma.dk\nmember@firma.dk\nnew@firma.dk\n")
    summary = import_csv(engine, sheet, "erhverv")
    assert (summary.added, summary.updated, summary.unchanged) == (2, 1, 1)
    assert sorted(member.email for member in iter_audience(engine, erhverv.id)) == [
        "member@firma.dk",
        "new@firma.dk",
        "other@firma.dk",
        "pending@firma.dk",
    ]
    with engine.connect() as conn:
        imported = [row for row in consent_rows(conn) if row[2].startswith("import")]
        assert [(address, action) for address, action, _, _ in imported] == [
            ("pending@firma.dk", "subscribe"),
            ("other@firma.dk", "subscribe"),
            ("new@firma.dk", "subscribe"),
        ]


def test_sqlite_settings_of_the_import_are_undone(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's own settings")
    with engine.connect() as conn:
        before = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("cache_size", "wal_autocheckpoint")
        ]
    import_csv(engine, write(tmp_path, "email\njens@firma.dk\n"), "erhverv")
    with engine.connect() as conn:
        after = [
            conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("cache_size", "wal_autocheckpoint")
        ]
    assert after == before


AWKWARD_TEXTS = [
    "plain",
    'with "quotes"',
    "back\\slash",
    "comma, and {braces}",
    " spaced ",
    "NULL",
    "",
    "æøå 😀",
]


def test_values_bound_as_one_come_back_as_they_were(engine: Engine) -> None:
    """A chunk's hashes and ids reach the database as one bound text: nothing in a value may change it."""
    with engine.connect() as conn:
        given = given_values(conn, "texts", Text())
        read = conn.execute(select(given.c.value), {"texts": listed(conn, AWKWARD_TEXTS)}).scalars().all()
        assert read == AWKWARD_TEXTS
        hashes = [f"{number:064x}" for number in range(3)]  # nothing to escape: the one-join path
        read = conn.execute(select(given.c.value), {"texts": listed(conn, hashes)}).scalars().all()
        assert read == hashes
        numbers = given_values(conn, "numbers", Integer())
        read = conn.execute(select(numbers.c.value), {"numbers": listed(conn, [3, 1, 2])}).scalars().all()
        assert [int(value) for value in read] == [3, 1, 2]
        assert conn.execute(select(given.c.value), {"texts": listed(conn, [])}).scalars().all() == []


def test_rows_written_and_updated_in_bulk_come_back_as_they_were(engine: Engine, erhverv: ListRow) -> None:
    """Each column of a chunk reaches the database as one bound text: no value may change on the way."""
    names: list[str | None] = [*AWKWARD_TEXTS, None]
    now = aware(datetime(2026, 12, 3, 12, 0, 0, 123456))
    with engine.begin() as conn:
        ids = insert_rows_with_ids(
            conn,
            subscribers,
            "email_hash",
            ("email", "email_hash", "name", "language", "attributes", "link_key"),
            [
                (f"p{number}@firma.dk", f"{number:064x}", name, "da", {"note": name, "n": number}, key)
                for number, (name, key) in enumerate(zip(names, new_link_keys(len(names)), strict=True))
            ],
            same={"status": "active", "created_at": now, "updated_at": now, "v1_links": False},
        )
        assert sorted(ids) == [f"{number:064x}" for number in range(len(names))]
        stored = {row.email_hash: row for row in conn.execute(select(subscribers))}
        for number, name in enumerate(names):
            row = stored[f"{number:064x}"]
            assert (row.id, row.name, row.attributes) == (
                ids[row.email_hash],
                name,
                {"note": name, "n": number},
            )
            assert aware(row.created_at) == now
        later = aware(datetime(2026, 12, 4, 9, 30))
        update_rows(
            conn,
            subscribers,
            "id",
            ("name", "attributes", "updated_at"),
            [
                (ids[f"{number:064x}"], name, {"before": name}, later)
                for number, name in enumerate(reversed(names))
            ],
        )
        stored = {row.email_hash: row for row in conn.execute(select(subscribers))}
        for number, name in enumerate(reversed(names)):
            row = stored[f"{number:064x}"]
            assert (row.name, row.attributes, aware(row.updated_at)) == (name, {"before": name}, later)


def test_stopping_after_a_chunk_keeps_that_chunk_and_leaves_no_reader_behind(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    """The next chunk is read while one is applied; a stop (the web's Stop button) still ends it all."""
    path = write(tmp_path, "email\n" + "".join(f"p{number}@firma.dk\n" for number in range(12)))

    class Stopped(Exception):
        pass

    def stop(summary: imports.ImportSummary) -> None:
        raise Stopped

    with pytest.raises(Stopped):
        import_csv(engine, path, "erhverv", chunk_size=4, progress=stop)
    with engine.connect() as conn:
        assert sorted(row.email for row in conn.execute(select(subscribers.c.email))) == [
            f"p{number}@firma.dk" for number in range(4)
        ]
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("import-reader")]


def test_a_file_that_fails_while_read_ahead_fails_the_import_after_the_chunks_before(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure reading the file (the disk, a bug) reaches the import, in the chunk it belongs to."""
    path = write(tmp_path, "email\n" + "".join(f"p{number}@firma.dk\n" for number in range(12)))
    real_next_chunk = imports._next_chunk
    reads: list[int] = []

    def third_read_fails(*arguments):  # type: ignore[no-untyped-def]
        reads.append(1)
        if len(reads) == 3:
            raise OSError("the disk went away")
        return real_next_chunk(*arguments)

    monkeypatch.setattr(imports, "_next_chunk", third_read_fails)
    with pytest.raises(OSError, match="the disk went away"):
        import_csv(engine, path, "erhverv", chunk_size=4)
    with engine.connect() as conn:
        assert count(conn, subscribers) == count(conn, memberships) == count(conn, consent_log) == 8
