"""A webhook event reaches only the person it was about, whatever ids its payload carries."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, select

from newsletter.store import subscribers as subscriber_store
from newsletter.store.addresses import hash_of
from newsletter.store.gdpr import erase
from newsletter.store.lists import ListRow, utcnow
from newsletter.store.schema import deliveries, events, subscribers, suppressions
from tests.web.conftest import AppClient, add_delivery, add_member, subscriber_status
from tests.web.webhook_signing import SendGridKeys, mailgun_body

ISSUE = "2020-03-02-nyt-fra-erhvervsservice"


def _bounce(recipient: str, **variables: str) -> dict[str, Any]:
    return {
        "id": f"ev-{recipient}-{time.time_ns()}",
        "event": "failed",
        "severity": "permanent",
        "timestamp": time.time(),
        "recipient": recipient,
        "delivery-status": {"message": "No such user"},
        "message": {"headers": {"message-id": "batch-1@mg.example.org"}},
        "user-variables": {"nl_issue": ISSUE, **variables},
    }


def _take_over_id(engine: Engine, old_id: int, address: str) -> None:
    """Someone new gets an id that once was another person's (as SQLite did before ids were kept)."""
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            subscribers.insert().values(
                id=old_id,
                email=address,
                email_hash=hash_of(address),
                attributes={},
                status="active",
                created_at=now,
                updated_at=now,
            )
        )


def test_late_bounce_for_an_erased_person_never_marks_whoever_has_their_id(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    x = add_member(engine, "x-person@example.com")
    delivery = add_delivery(engine, x, erhverv)
    with engine.begin() as conn:
        erase(conn, "x-person@example.com")
    _take_over_id(engine, x, "y-person@example.com")

    bounce = _bounce("x-person@example.com", nl_subscriber=str(x), nl_delivery=str(delivery))
    assert client.post("/webhooks/mailgun", content=mailgun_body(bounce)).status_code == 200
    assert subscriber_status(engine, x) == "active"  # Y, who now holds X's old id, is untouched
    with engine.connect() as conn:
        [row] = conn.execute(select(events)).all()
        assert row.subscriber_id is None and row.delivery_id == delivery
        reason = conn.execute(
            select(suppressions.c.reason).where(suppressions.c.email_hash == hash_of("x-person@example.com"))
        ).scalar_one()
    assert reason is not None  # still never mailed


def test_subscriber_id_in_the_payload_alone_is_not_trusted(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    jens = add_member(engine, "jens@example.com")
    mette = add_member(engine, "mette@example.com")
    # Mette's id, Jens's address: the address is what the provider reports, so Jens bounced.
    bounce = _bounce("jens@example.com", nl_subscriber=str(mette))
    assert client.post("/webhooks/mailgun", content=mailgun_body(bounce)).status_code == 200
    assert (subscriber_status(engine, jens), subscriber_status(engine, mette)) == ("bounced", "active")


def test_delivery_id_for_another_address_is_not_followed(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    jens = add_member(engine, "jens@example.com")
    mette = add_member(engine, "mette@example.com")
    mettes_delivery = add_delivery(engine, mette, erhverv)
    bounce = _bounce("jens@example.com", nl_delivery=str(mettes_delivery))
    assert client.post("/webhooks/mailgun", content=mailgun_body(bounce)).status_code == 200
    assert (subscriber_status(engine, jens), subscriber_status(engine, mette)) == ("bounced", "active")
    with engine.connect() as conn:
        assert conn.execute(select(events.c.delivery_id)).scalar_one() is None


def test_batch_wide_message_id_matches_the_recipients_own_row(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    # Mailgun answers one id for the whole batch: every ledger row of it carries the same id.
    people = [add_member(engine, f"p{i}@example.com") for i in range(3)]
    rows = [add_delivery(engine, p, erhverv, message_id="batch-1@mg.example.org") for p in people]
    bounce = _bounce("p2@example.com")  # no user-variables: a webhook set up by hand, say
    assert client.post("/webhooks/mailgun", content=mailgun_body(bounce)).status_code == 200
    assert [subscriber_status(engine, p) for p in people] == ["active", "active", "bounced"]
    with engine.connect() as conn:
        assert conn.execute(select(events.c.delivery_id)).scalar_one() == rows[2]


def test_event_without_address_follows_only_an_unambiguous_row(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    people = [add_member(engine, f"p{i}@example.com") for i in range(2)]
    for p in people:
        add_delivery(engine, p, erhverv, message_id="batch-1@mg.example.org")
    bounce = _bounce("")
    assert client.post("/webhooks/mailgun", content=mailgun_body(bounce)).status_code == 200
    assert [subscriber_status(engine, p) for p in people] == ["active", "active"]
    with engine.connect() as conn:
        assert conn.execute(select(deliveries.c.id)).all()  # ledger untouched
        assert subscriber_store.get_subscriber(conn, "p0@example.com") is not None
