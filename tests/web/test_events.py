"""newsletter.store.events on its own: idempotent recording, matching, effects."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.events import Event, record_event, record_events
from newsletter.store.lists import ListRow
from newsletter.store.schema import events
from tests.web.conftest import add_delivery, add_member, count, membership


def test_unknown_event_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown event type 'bounce'"):
        Event(provider="x", provider_event_id="1", type="bounce", raw={})


def test_same_event_twice_is_stored_once(engine: Engine, erhverv: ListRow) -> None:
    event = Event(provider="mailgun", provider_event_id="ev-1", type="opened", raw={"a": 1})
    with engine.begin() as conn:
        result = record_events(conn, [event, event])
    assert (result.stored, result.replayed) == (1, 1)
    with engine.begin() as conn:
        assert record_event(conn, event) is None
    assert count(engine, events) == 1


def test_same_id_from_another_provider_is_another_event(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        record_events(
            conn,
            [
                Event(provider="mailgun", provider_event_id="same", type="opened", raw={}),
                Event(provider="resend", provider_event_id="same", type="opened", raw={}),
            ],
        )
    assert count(engine, events) == 2


def test_provider_unsubscribe_without_delivery_leaves_every_list(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        other = list_store.create_list(conn, "kultur", "Kulturnyt", "", "da", "ok")
    person = add_member(engine, "a@example.com")
    add_member(engine, "a@example.com", "kultur")
    event = Event(
        provider="sendgrid", provider_event_id="u1", type="unsubscribed", email="A@example.com", raw={}
    )
    with engine.begin() as conn:
        assert record_event(conn, event) == f"subscriber {person} unsubscribed"
    assert membership(engine, person, erhverv.id) == membership(engine, person, other.id) == "unsubscribed"


def test_provider_unsubscribe_with_delivery_leaves_only_that_list(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        other = list_store.create_list(conn, "kultur", "Kulturnyt", "", "da", "ok")
    person = add_member(engine, "a@example.com")
    add_member(engine, "a@example.com", "kultur")
    delivery = add_delivery(engine, person, erhverv, message_id="<abc@mail.example.org>")
    event = Event(
        provider="mailgun",
        provider_event_id="u2",
        type="unsubscribed",
        message_id="abc@mail.example.org",
        raw={},
    )
    with engine.begin() as conn:
        record_event(conn, event)
        row = conn.execute(select(events.c.delivery_id, events.c.subscriber_id)).one()
        source = subscriber_store.memberships_of(conn, person)
    assert (row.delivery_id, row.subscriber_id) == (
        delivery,
        person,
    )  # matched through the bracketed Message-ID
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert membership(engine, person, other.id) == "subscribed"
    assert len(source) == 2


def test_event_and_effect_roll_back_together(engine: Engine, erhverv: ListRow) -> None:
    person = add_member(engine, "a@example.com")
    event = Event(
        provider="postmark", provider_event_id="b1", type="bounced", hard=True, email="a@example.com", raw={}
    )
    with pytest.raises(RuntimeError), engine.begin() as conn:
        record_event(conn, event)
        raise RuntimeError("the request failed after recording")
    assert count(engine, events) == 0
    with engine.connect() as conn:
        row = subscriber_store.get_subscriber_by_id(conn, person)
    assert row is not None and row.status == "active"
