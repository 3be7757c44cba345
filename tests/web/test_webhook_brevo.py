"""Brevo webhooks: Basic credentials, X-Mailin-custom correlation, the event table, batched lists, replays."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import Engine, select

from newsletter.providers.brevo import custom_header
from newsletter.store.addresses import hash_of
from newsletter.store.lists import ListRow
from newsletter.store.schema import events, suppressions
from tests.web.conftest import AppClient, add_delivery, add_member, subscriber_status

ISSUE = "2020-03-02-nyt-fra-erhvervsservice"
USER = "brevo-hooks"
PASSWORD = "brevo-webhook-password-0123456789"


@pytest.fixture
def brevo_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_BREVO_WEBHOOK_USER", USER)
    monkeypatch.setenv("NEWSLETTER_BREVO_WEBHOOK_PASSWORD", PASSWORD)


@pytest.fixture
def person(engine: Engine) -> int:
    return add_member(engine, "jens@example.com", name="Jens")


def auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}", "content-type": "application/json"}


def brevo_event(event: str, delivery: int, subscriber: int, **extra: Any) -> dict[str, Any]:
    """An event as Brevo's transactional webhook documentation shows it."""
    return {
        "event": event,
        "email": "jens@example.com",
        "id": 123456,  # the webhook's id, the same for every event it sends
        "date": "2020-03-02 10:00:00",
        "ts": 1583139600,
        "message-id": "<202003021000.12345678901@smtp-relay.mailin.fr>",
        "ts_event": 1583139600,
        "subject": "Nyt fra Erhvervsservice",
        "X-Mailin-custom": custom_header(
            {"nl_issue": ISSUE, "nl_subscriber": str(subscriber), "nl_delivery": str(delivery)}
        ),
        "sending_ip": "185.41.28.109",
        "ts_epoch": 1583139600123,
        "tags": [ISSUE],
        **extra,
    }


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.id)))


def suppressed(engine: Engine, address: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(suppressions.c.reason).where(suppressions.c.email_hash == hash_of(address))
        ).scalar_one_or_none()


def test_hard_bounce_is_matched_to_its_delivery_and_suppresses(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, brevo_secrets: None
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(brevo_event("hard_bounce", delivery, person, reason="550 5.1.1 user unknown")).encode()
    answer = client.post("/webhooks/brevo", content=body, headers=auth())
    assert answer.status_code == 200 and answer.json() == {"stored": 1, "replayed": 0}
    [row] = rows(engine)
    assert (row.provider, row.type, row.hard) == ("brevo", "bounced", True)
    assert row.delivery_id == delivery and row.subscriber_id == person
    assert row.detail == "550 5.1.1 user unknown"
    assert row.occurred_at is not None
    assert subscriber_status(engine, person) == "bounced"
    assert suppressed(engine, "jens@example.com") == "bounced"
    again = client.post("/webhooks/brevo", content=body, headers=auth())
    assert again.json() == {"stored": 0, "replayed": 1}
    assert len(rows(engine)) == 1


@pytest.mark.parametrize(
    ("event", "kind", "hard"),
    [
        ("delivered", "delivered", None),
        ("soft_bounce", "bounced", False),
        ("spam", "complained", None),
        ("unsubscribed", "unsubscribed", None),
        ("opened", "opened", None),
        ("click", "clicked", None),
    ],
)
def test_event_names_become_the_projects_types(
    client: AppClient,
    engine: Engine,
    erhverv: ListRow,
    person: int,
    brevo_secrets: None,
    event: str,
    kind: str,
    hard: bool | None,
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(brevo_event(event, delivery, person, link="https://example.org/a")).encode()
    assert client.post("/webhooks/brevo", content=body, headers=auth()).status_code == 200
    [row] = rows(engine)
    assert (row.type, row.hard, row.delivery_id) == (kind, hard, delivery)


def test_complaint_and_unsubscribe_take_the_person_off_the_list(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, brevo_secrets: None
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(brevo_event("spam", delivery, person)).encode()
    client.post("/webhooks/brevo", content=body, headers=auth())
    assert suppressed(engine, "jens@example.com") == "complained"


def test_a_batched_webhook_list_is_stored_and_uninteresting_events_are_skipped(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, brevo_secrets: None
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    batch = [
        brevo_event("request", delivery, person),
        brevo_event("delivered", delivery, person),
        brevo_event("opened", delivery, person, ts_event=1583139700),
    ]
    answer = client.post("/webhooks/brevo", content=json.dumps(batch).encode(), headers=auth())
    assert answer.json() == {"stored": 2, "replayed": 0}
    assert [r.type for r in rows(engine)] == ["delivered", "opened"]


@pytest.mark.parametrize(
    "headers",
    [
        {"content-type": "application/json"},
        auth(password="wrong"),
        auth(user="someone-else"),
        {"authorization": "Basic !!!not-base64", "content-type": "application/json"},
        {"authorization": "Bearer " + PASSWORD, "content-type": "application/json"},
    ],
    ids=["none", "wrong-password", "wrong-user", "garbage", "bearer"],
)
def test_requests_without_the_right_credentials_store_nothing(
    client: AppClient,
    engine: Engine,
    erhverv: ListRow,
    person: int,
    brevo_secrets: None,
    headers: dict[str, str],
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(brevo_event("hard_bounce", delivery, person)).encode()
    assert client.post("/webhooks/brevo", content=body, headers=headers).status_code == 401
    assert rows(engine) == []
    assert subscriber_status(engine, person) != "bounced"


def test_endpoint_is_disabled_until_both_variables_are_set(
    client: AppClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSLETTER_BREVO_WEBHOOK_USER", USER)
    monkeypatch.delenv("NEWSLETTER_BREVO_WEBHOOK_PASSWORD", raising=False)
    assert client.post("/webhooks/brevo", content=b"{}", headers=auth()).status_code == 404


def test_a_body_that_is_no_brevo_event_is_a_bad_request(client: AppClient, brevo_secrets: None) -> None:
    assert client.post("/webhooks/brevo", content=b"[1, 2]", headers=auth()).status_code == 400
    assert client.post("/webhooks/brevo", content=b"not json", headers=auth()).status_code == 400
