"""Captured webhooks cannot be posted again: freshness windows and Mailgun's one-time tokens."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from newsletter.config import Settings, load_settings
from newsletter.errors import ConfigError
from newsletter.store.lists import ListRow
from newsletter.store.schema import events, webhook_tokens
from newsletter.web import RateLimits, create_app
from tests.conftest import write_project
from tests.web.conftest import AppClient, add_delivery, add_member, count, subscriber_status
from tests.web.webhook_signing import SendGridKeys, mailgun_body, resend_headers

ISSUE = "2020-03-02-nyt-fra-erhvervsservice"


def _delivered(recipient: str, event_id: str) -> dict[str, Any]:
    return {"id": event_id, "event": "delivered", "timestamp": time.time(), "recipient": recipient}


def test_captured_mailgun_signature_cannot_carry_another_event(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    stranger = add_member(engine, "stranger@example.com")
    captured = json.loads(mailgun_body(_delivered("jens@example.com", "ev-delivered")))
    assert client.post("/webhooks/mailgun", content=json.dumps(captured).encode()).status_code == 200

    # The attacker keeps the signature triple and writes their own event under it.
    forged = {
        "signature": captured["signature"],
        "event-data": {
            "id": "ev-forged",
            "event": "complained",
            "timestamp": time.time(),
            "recipient": "stranger@example.com",
        },
    }
    answer = client.post("/webhooks/mailgun", content=json.dumps(forged).encode())
    assert answer.status_code == 403
    # The very same request again (Mailgun retrying after a lost answer) is a harmless replay.
    again = client.post("/webhooks/mailgun", content=json.dumps(captured).encode())
    assert (again.status_code, again.json()) == (200, {"stored": 0, "replayed": 1})
    assert subscriber_status(engine, stranger) == "active"
    assert count(engine, events) == 1


def test_mailgun_token_is_remembered_across_a_restart_and_a_second_instance(
    settings: Settings, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    body = mailgun_body(_delivered("jens@example.com", "ev-1"))
    first = AppClient(create_app(settings, rate_limits=RateLimits()))
    assert first.post("/webhooks/mailgun", content=body).status_code == 200
    first.close()
    # A new process on the same database (a restart, or a second `serve` behind the proxy).
    second = AppClient(create_app(settings, rate_limits=RateLimits()))
    captured = json.loads(body)
    forged = {**captured, "event-data": {**captured["event-data"], "id": "ev-2", "event": "complained"}}
    try:
        assert second.post("/webhooks/mailgun", content=json.dumps(forged).encode()).status_code == 403
        assert second.post("/webhooks/mailgun", content=body).json() == {"stored": 0, "replayed": 1}
    finally:
        second.close()
    assert count(engine, events) == 1


def test_two_instances_posting_one_token_at_once_accept_exactly_one(
    settings: Settings, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    clients = [AppClient(create_app(settings, rate_limits=RateLimits())) for _ in range(2)]
    try:
        for round_number in range(5):
            payload = json.loads(mailgun_body(_delivered("jens@example.com", f"ev-{round_number}")))
            # Two different events under one token: only one may ever be recorded.
            other = {**payload, "event-data": {**payload["event-data"], "id": f"ev-{round_number}-b"}}
            bodies = [json.dumps(payload).encode(), json.dumps(other).encode()]
            barrier = threading.Barrier(2)

            def post(index: int, bodies: list[bytes] = bodies, barrier: threading.Barrier = barrier) -> int:
                barrier.wait()
                return clients[index].post("/webhooks/mailgun", content=bodies[index]).status_code

            with ThreadPoolExecutor(2) as pool:
                statuses = sorted(pool.map(post, range(2)))
            assert statuses == [200, 403], f"round {round_number}: {statuses}"
    finally:
        for app_client in clients:
            app_client.close()
    assert count(engine, events) == 5


@pytest.mark.parametrize("offset", [-6 * 60, 6 * 60, -20 * 365 * 86400], ids=["old", "future", "2001"])
def test_mailgun_timestamp_outside_the_window_is_refused(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys, offset: int
) -> None:
    body = mailgun_body(_delivered("jens@example.com", "ev-1"), timestamp=str(int(time.time()) + offset))
    assert client.post("/webhooks/mailgun", content=body).status_code == 403
    assert count(engine, events) == 0


@pytest.mark.parametrize(
    "stamp",
    ["1000000000", str(int(time.time()) + 3600), "nan", "1e400", "x"],
    ids=["2001", "in-an-hour", "nan", "1e400", "x"],  # the same names in every test process
)
def test_sendgrid_validly_signed_but_stale_timestamp_is_refused(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys, stamp: str
) -> None:
    person = add_member(engine, "jens@example.com")
    bounce = {"email": "jens@example.com", "event": "bounce", "type": "bounce", "sg_event_id": "sg-1"}
    body = json.dumps([bounce]).encode()
    answer = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body, stamp))
    assert answer.status_code == 403
    assert count(engine, events) == 0
    assert subscriber_status(engine, person) == "active"


def test_tolerance_is_a_setting(
    tmp_path: Any, database_url: str, erhverv: ListRow, sendgrid_keys: SendGridKeys, engine: Engine
) -> None:
    config = write_project(tmp_path / "wide", database_url, "\n[webhooks]\ntolerance_seconds = 900\n")
    settings = load_settings(config)
    assert settings.webhook_tolerance_seconds == 900
    app_client = AppClient(create_app(settings, rate_limits=RateLimits()))
    try:
        ten_minutes_ago = str(int(time.time()) - 600)
        body = mailgun_body(_delivered("jens@example.com", "ev-1"), timestamp=ten_minutes_ago)
        assert app_client.post("/webhooks/mailgun", content=body).status_code == 200
        resend_body = json.dumps({"type": "email.opened", "data": {"to": ["jens@example.com"]}}).encode()
        headers = resend_headers(resend_body, timestamp=int(time.time()) - 600)
        assert app_client.post("/webhooks/resend", content=resend_body, headers=headers).status_code == 200
    finally:
        app_client.close()


def test_tolerance_out_of_range_is_one_clear_line(tmp_path: Any) -> None:
    config = write_project(tmp_path / "p", "sqlite:///x.db", "\n[webhooks]\ntolerance_seconds = 86400\n")
    with pytest.raises(ConfigError, match=r"\[webhooks\] tolerance_seconds: 86400 is out of range"):
        load_settings(config)


def test_spent_tokens_are_pruned_after_the_window(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    old = str(int(time.time()) - 290)
    client.post("/webhooks/mailgun", content=mailgun_body(_delivered("a@example.com", "ev-1"), timestamp=old))
    assert count(engine, webhook_tokens) == 1
    with engine.begin() as conn:  # as if that token had been signed an hour ago
        conn.execute(
            webhook_tokens.update().values(signed_at=webhook_tokens.c.signed_at - timedelta(hours=1))
        )
    client.post("/webhooks/mailgun", content=mailgun_body(_delivered("b@example.com", "ev-2")))
    assert count(engine, webhook_tokens) == 1


def test_stored_mailgun_event_keeps_no_signature(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    person = add_member(engine, "jens@example.com")
    delivery = add_delivery(engine, person, erhverv)
    event = _delivered("jens@example.com", "ev-1")
    event["user-variables"] = {"nl_delivery": str(delivery)}
    body = mailgun_body(event)
    token = json.loads(body)["signature"]["token"]
    assert client.post("/webhooks/mailgun", content=body).status_code == 200
    with engine.connect() as conn:
        [raw] = conn.execute(select(events.c.raw)).scalars().all()
    assert "signature" not in raw
    assert token not in json.dumps(raw)
    assert raw["event-data"]["id"] == "ev-1"
