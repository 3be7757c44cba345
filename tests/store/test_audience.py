from __future__ import annotations

from sqlalchemy import Engine, event

from newsletter.store.audience import count_audience, is_mailable, iter_audience
from newsletter.store.lists import ListRow, create_list
from newsletter.store.subscribers import (
    add_subscriber,
    mark_bounced,
    mark_complained,
    set_pending,
    suppress,
    unsubscribe,
)


def test_audience_excludes_everyone_who_may_not_be_mailed(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        kultur = create_list(conn, "kultur", "Kulturnyt")
        ids = {
            address: add_subscriber(conn, f"{address}@firma.dk", "erhverv", name=address.title()).id
            for address in ("anna", "bo", "carl", "dorte", "erik", "frida")
        }
        unsubscribe(conn, ids["bo"], erhverv.id, source="link")
        mark_bounced(conn, ids["carl"], "550")
        mark_complained(conn, ids["dorte"], "abuse report")
        suppress(conn, "erik@firma.dk", "manual")
        set_pending(
            conn, "gitte@firma.dk", erhverv.id, name="Gitte", language=None, method="form",
            source="", consent_text="", ip=None,
        )  # fmt: skip
        add_subscriber(conn, "henrik@firma.dk", "kultur")
    members = list(iter_audience(engine, erhverv.id, chunk_size=2))
    assert [member.email for member in members] == ["anna@firma.dk", "frida@firma.dk"]
    assert members[0].name == "Anna" and members[0].language == "da"
    with engine.connect() as conn:
        assert count_audience(conn, erhverv.id) == 2
        assert count_audience(conn, kultur.id) == 1
        assert is_mailable(conn, ids["anna"], erhverv.id)
        for excluded in ("bo", "carl", "dorte", "erik"):
            assert not is_mailable(conn, ids[excluded], erhverv.id), excluded
        assert not is_mailable(conn, ids["anna"], kultur.id)


def test_audience_pages_through_every_member_once(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        for number in range(25):
            add_subscriber(conn, f"person{number:02d}@firma.dk", "erhverv")
    for chunk_size in (1, 7, 25, 1000):
        emails = [member.email for member in iter_audience(engine, erhverv.id, chunk_size=chunk_size)]
        assert emails == [f"person{number:02d}@firma.dk" for number in range(25)]


def test_unsubscribe_during_streaming_is_honoured_by_later_pages(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        ids = [add_subscriber(conn, f"p{number}@firma.dk", "erhverv").id for number in range(6)]
    stream = iter_audience(engine, erhverv.id, chunk_size=2)
    seen = [next(stream).subscriber_id]
    with engine.begin() as conn:
        unsubscribe(conn, ids[4], erhverv.id, source="one-click")
    seen += [member.subscriber_id for member in stream]
    assert ids[4] not in seen
    assert len(seen) == 5


def test_empty_list_streams_nothing(engine: Engine, erhverv: ListRow) -> None:
    assert list(iter_audience(engine, erhverv.id)) == []


def test_audience_is_read_a_page_at_a_time(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        for number in range(25):
            add_subscriber(conn, f"person{number:02d}@firma.dk", "erhverv")
    pages: list[int] = []

    def count_rows(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM subscribers JOIN memberships" in statement:
            pages.append(cursor.rowcount)

    event.listen(engine, "after_cursor_execute", count_rows)
    try:
        stream = iter_audience(engine, erhverv.id, chunk_size=7)
        first = next(stream)
        assert first.email == "person00@firma.dk"
        assert len(pages) == 1  # one page read, not the whole list
        rest = list(stream)
    finally:
        event.remove(engine, "after_cursor_execute", count_rows)
    assert len(rest) == 24
    assert len(pages) == 4  # 7 + 7 + 7 + 4
