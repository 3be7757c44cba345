from __future__ import annotations

import pytest
from sqlalchemy import Connection, Engine, select

from newsletter.errors import NotFound, StoreError
from newsletter.store.addresses import InvalidAddress, email_hash
from newsletter.store.lists import ListRow, create_list
from newsletter.store.schema import consent_log, memberships, suppressions
from newsletter.store.subscribers import (
    SubscriptionRefused,
    add_subscriber,
    confirm,
    get_subscriber,
    get_subscriber_by_id,
    is_suppressed,
    mark_bounced,
    mark_complained,
    memberships_of,
    set_pending,
    subscribe,
    suppress,
    unsubscribe,
)


def consent_actions(conn: Connection, subscriber_id: int) -> list[tuple[str, str]]:
    query = (
        select(consent_log.c.action, consent_log.c.method)
        .where(consent_log.c.subscriber_id == subscriber_id)
        .order_by(consent_log.c.id)
    )
    return [(row.action, row.method) for row in conn.execute(query)]


def state_of(conn: Connection, subscriber_id: int, list_id: int) -> str | None:
    query = select(memberships.c.state).where(
        memberships.c.subscriber_id == subscriber_id, memberships.c.list_id == list_id
    )
    return conn.execute(query).scalar_one_or_none()


def test_add_creates_subscriber_membership_and_consent(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = add_subscriber(
            conn, "  Søren@Æblegården.DK ", "erhverv", name="Søren Ærø", attributes={"firma": "Æblegården"}
        )
    with engine.connect() as conn:
        found = get_subscriber(conn, "søren@æblegården.dk")
        assert found is not None
        assert found.id == row.id
        assert found.email == "Søren@æblegården.dk"
        assert found.email_hash == email_hash("søren@æblegården.dk")
        assert found.name == "Søren Ærø"
        assert found.language == "da"
        assert found.attributes == {"firma": "Æblegården"}
        assert found.status == "active"
        assert get_subscriber_by_id(conn, row.id) == found
        assert [(lst.name, state) for lst, state in memberships_of(conn, row.id)] == [
            ("erhverv", "subscribed")
        ]
        log = conn.execute(select(consent_log).where(consent_log.c.subscriber_id == row.id)).one()
        assert (log.action, log.method, log.consent_text) == (
            "subscribe",
            "manual",
            "Ja tak til nyhedsbrevet",
        )


def test_add_twice_changes_nothing_and_logs_once(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        first, outcome1 = subscribe(conn, "jens@firma.dk", erhverv, name="Jens")
        second, outcome2 = subscribe(conn, "JENS@firma.dk ", erhverv, name="Jens")
    assert (outcome1, outcome2) == ("added", "unchanged")
    assert first == second
    with engine.connect() as conn:
        assert consent_actions(conn, first.id) == [("subscribe", "manual")]


def test_add_updates_profile_and_merges_attributes(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "jens@firma.dk", "erhverv", name="Jens", attributes={"a": "1"})
        _, outcome = subscribe(conn, "jens@firma.dk", erhverv, name="Jens Hansen", attributes={"b": "2"})
    assert outcome == "updated"
    with engine.connect() as conn:
        found = get_subscriber(conn, "jens@firma.dk")
        assert found is not None
        assert found.name == "Jens Hansen"
        assert found.attributes == {"a": "1", "b": "2"}


def test_add_rejects_bad_address_and_unknown_list(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        with pytest.raises(InvalidAddress):
            add_subscriber(conn, "not-an-address", "erhverv")
        with pytest.raises(NotFound, match="existing lists: erhverv"):
            add_subscriber(conn, "jens@firma.dk", "kultur")
        with pytest.raises(StoreError, match="consent method"):
            add_subscriber(conn, "jens@firma.dk", "erhverv", method="telepathy")
    with engine.connect() as conn:
        assert get_subscriber(conn, "jens@firma.dk") is None


def test_unsubscribed_is_not_resubscribed_without_consent(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = add_subscriber(conn, "jens@firma.dk", "erhverv")
        assert unsubscribe(conn, row.id, erhverv.id, source="one-click") is True
        assert unsubscribe(conn, row.id, erhverv.id, source="one-click") is False
    with engine.begin() as conn, pytest.raises(SubscriptionRefused, match="unsubscribed from this list"):
        add_subscriber(conn, "jens@firma.dk", "erhverv")
    with engine.begin() as conn, pytest.raises(StoreError, match="consent note"):
        add_subscriber(conn, "jens@firma.dk", "erhverv", resubscribe=True)
    with engine.begin() as conn:
        add_subscriber(
            conn, "jens@firma.dk", "erhverv", resubscribe=True, consent_text="Ringede 3/2 og bad om det"
        )
    with engine.connect() as conn:
        assert state_of(conn, row.id, erhverv.id) == "subscribed"
        assert consent_actions(conn, row.id) == [
            ("subscribe", "manual"),
            ("unsubscribe", "form"),
            ("resubscribe", "manual"),
        ]
        last = conn.execute(select(consent_log).order_by(consent_log.c.id.desc())).first()
        assert last is not None and last.consent_text == "Ringede 3/2 og bad om det"
        membership = conn.execute(select(memberships)).one()
        assert membership.unsubscribed_at is None


def test_unsubscribe_records_time_and_source(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = add_subscriber(conn, "jens@firma.dk", "erhverv")
        unsubscribe(conn, row.id, erhverv.id, source="link")
    with engine.connect() as conn:
        membership = conn.execute(select(memberships)).one()
        assert membership.state == "unsubscribed"
        assert membership.unsubscribe_source == "link"
        assert membership.unsubscribed_at is not None


def test_unsubscribe_from_every_list(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        kultur = create_list(conn, "kultur", "Kulturnyt")
        row = add_subscriber(conn, "jens@firma.dk", "erhverv")
        add_subscriber(conn, "jens@firma.dk", "kultur")
        assert unsubscribe(conn, row.id, None, source="preferences") is True
    with engine.connect() as conn:
        assert state_of(conn, row.id, erhverv.id) == "unsubscribed"
        assert state_of(conn, row.id, kultur.id) == "unsubscribed"


@pytest.mark.parametrize("marker", [mark_bounced, mark_complained])
def test_bounced_or_complained_is_suppressed_and_refused(engine: Engine, erhverv: ListRow, marker) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        row = add_subscriber(conn, "jens@firma.dk", "erhverv")
        marker(conn, row.id, "550 mailbox unavailable")
    with engine.connect() as conn:
        found = get_subscriber_by_id(conn, row.id)
        assert found is not None and found.status in ("bounced", "complained")
        assert is_suppressed(conn, row.email_hash)
    with engine.begin() as conn, pytest.raises(SubscriptionRefused, match="suppression list"):
        add_subscriber(conn, "Jens@Firma.dk", "erhverv")


def test_resubscribe_lifts_suppression_and_status(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = add_subscriber(conn, "jens@firma.dk", "erhverv")
        mark_bounced(conn, row.id, "mailbox full for a year")
        add_subscriber(
            conn, "jens@firma.dk", "erhverv", resubscribe=True, consent_text="Ny adresse bekræftet"
        )
    with engine.connect() as conn:
        found = get_subscriber_by_id(conn, row.id)
        assert found is not None and found.status == "active"
        assert not is_suppressed(conn, row.email_hash)
        assert consent_actions(conn, row.id) == [("subscribe", "manual"), ("resubscribe", "manual")]


def test_suppress_by_address_or_hash_latest_reason_wins(engine: Engine) -> None:
    hashed = email_hash("jens@firma.dk")
    with engine.begin() as conn:
        suppress(conn, " Jens@FIRMA.dk", "manual", "asked by phone")
        suppress(conn, hashed, "complained")
        with pytest.raises(StoreError, match="reason"):
            suppress(conn, hashed, "bored")
    with engine.connect() as conn:
        assert is_suppressed(conn, hashed)
        assert conn.execute(select(suppressions.c.reason)).scalars().all() == ["complained"]


def test_double_opt_in(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = set_pending(
            conn,
            "jens@firma.dk",
            erhverv.id,
            name="Jens",
            language="en",
            method="form",
            source="https://example.org/tilmeld",
            consent_text="Ja tak",
            ip="192.0.2.1",
        )
    assert row is not None and row.language == "en"
    with engine.begin() as conn:
        assert state_of(conn, row.id, erhverv.id) == "pending"
        assert confirm(conn, row.id, erhverv.id, ip="192.0.2.1", consent_text="Ja tak") is True
        assert confirm(conn, row.id, erhverv.id, ip="192.0.2.1", consent_text="Ja tak") is False
    with engine.connect() as conn:
        assert state_of(conn, row.id, erhverv.id) == "subscribed"
        assert consent_actions(conn, row.id) == [("subscribe", "form"), ("confirm", "form")]
        ips = conn.execute(select(consent_log.c.ip)).scalars().all()
        assert ips == ["192.0.2.1", "192.0.2.1"]


def test_set_pending_does_not_downgrade_or_rename(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = add_subscriber(conn, "jens@firma.dk", "erhverv", name="Jens")
        again = set_pending(
            conn, "jens@firma.dk", erhverv.id, name="Mallory", language=None, method="form",
            source="", consent_text="", ip=None,
        )  # fmt: skip
    assert again is not None and again.name == "Jens"
    with engine.connect() as conn:
        assert state_of(conn, row.id, erhverv.id) == "subscribed"
        assert consent_actions(conn, row.id) == [("subscribe", "manual")]


def test_set_pending_ignores_suppressed_silently(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        suppress(conn, "jens@firma.dk", "erased")
        result = set_pending(
            conn, "jens@firma.dk", erhverv.id, name="Jens", language=None, method="form",
            source="", consent_text="", ip=None,
        )  # fmt: skip
    assert result is None
    with engine.connect() as conn:
        assert get_subscriber(conn, "jens@firma.dk") is None


def test_confirm_refused_after_bounce(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        row = set_pending(
            conn, "jens@firma.dk", erhverv.id, name=None, language=None, method="form",
            source="", consent_text="", ip=None,
        )  # fmt: skip
        assert row is not None
        mark_bounced(conn, row.id, "no such user")
        assert confirm(conn, row.id, erhverv.id, ip=None, consent_text="") is False
        assert state_of(conn, row.id, erhverv.id) == "pending"


def test_get_subscriber_with_garbage_is_none(engine: Engine) -> None:
    with engine.connect() as conn:
        assert get_subscriber(conn, "garbage") is None
        assert get_subscriber_by_id(conn, 12345) is None


def test_known_person_joining_another_list_is_added(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        kultur = create_list(conn, "kultur", "Kulturnyt")
        subscribe(conn, "jens@firma.dk", erhverv, name="Jens")
        _, outcome = subscribe(conn, "jens@firma.dk", kultur, name="Jens Hansen")
    assert outcome == "added"
