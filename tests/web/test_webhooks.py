"""Provider webhooks: real signatures made with test keys, refusals, replays, effects on subscribers."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine, select

from newsletter.store import subscribers as subscriber_store
from newsletter.store.addresses import hash_of
from newsletter.store.lists import ListRow
from newsletter.store.schema import events, suppressions
from tests.web.conftest import AppClient, add_delivery, add_member, count, membership, subscriber_status
from tests.web.webhook_signing import (
    SendGridKeys,
    mailgun_body,
    postmark_headers,
    resend_headers,
)

ISSUE = "2020-03-02-nyt-fra-erhvervsservice"


@pytest.fixture
def person(engine: Engine) -> int:
    return add_member(engine, "jens@example.com", name="Jens")


def _event_rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.id)))


def _suppressed(engine: Engine, address: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(suppressions.c.reason).where(suppressions.c.email_hash == hash_of(address))
        ).scalar_one_or_none()


# ---------------------------------------------------------------- Postmark


def _postmark_bounce(delivery_id: int, subscriber_id: int, bounce_type: str = "HardBounce") -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "ID": 4323372036854775807,
        "Type": bounce_type,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "Test bounce details",
        "Email": "jens@example.com",
        "BouncedAt": "2019-12-20T13:28:10.2735393-04:00",
        "Inactive": bounce_type == "HardBounce",
        "Metadata": {"nl_issue": ISSUE, "nl_subscriber": str(subscriber_id), "nl_delivery": str(delivery_id)},
        "MessageStream": "broadcast",
    }


def test_postmark_hard_bounce_suppresses_and_replay_changes_nothing(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(_postmark_bounce(delivery, person)).encode()
    answer = client.post("/webhooks/postmark", content=body, headers=postmark_headers())
    assert answer.status_code == 200
    assert answer.json() == {"stored": 1, "replayed": 0}
    [row] = _event_rows(engine)
    assert (row.provider, row.type, row.hard) == ("postmark", "bounced", True)
    assert row.delivery_id == delivery and row.subscriber_id == person
    assert row.raw["Details"] == "Test bounce details"  # the raw payload is kept
    assert row.occurred_at is not None
    assert subscriber_status(engine, person) == "bounced"
    assert _suppressed(engine, "jens@example.com") == "bounced"

    replay = client.post("/webhooks/postmark", content=body, headers=postmark_headers())
    assert replay.json() == {"stored": 0, "replayed": 1}
    assert len(_event_rows(engine)) == 1


def test_postmark_soft_bounce_and_delivery_do_not_suppress(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    soft = _postmark_bounce(delivery, person, "Transient")
    delivered = {
        "RecordType": "Delivery",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Recipient": "jens@example.com",
        "DeliveredAt": "2019-12-20T13:28:10.2735393-04:00",
        "Details": "Test delivery webhook details",
        "Metadata": {"nl_delivery": str(delivery)},
    }
    for payload in (soft, delivered, delivered):
        answer = client.post(
            "/webhooks/postmark", content=json.dumps(payload).encode(), headers=postmark_headers()
        )
        assert answer.status_code == 200
    rows = _event_rows(engine)
    assert [(r.type, r.hard) for r in rows] == [("bounced", False), ("delivered", None)]
    assert subscriber_status(engine, person) == "active"


def test_postmark_spam_complaint_and_unsubscribe_change(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    change = {
        "RecordType": "SubscriptionChange",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ChangedAt": "2020-02-01T10:53:34.416071Z",
        "Recipient": "jens@example.com",
        "SuppressSending": True,
        "SuppressionReason": "ManualSuppression",
        "Metadata": {"nl_delivery": str(delivery)},
    }
    client.post("/webhooks/postmark", content=json.dumps(change).encode(), headers=postmark_headers())
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    complaint = {
        **_postmark_bounce(delivery, person),
        "RecordType": "SpamComplaint",
        "Type": "SpamComplaint",
        "ID": 7,
    }
    client.post("/webhooks/postmark", content=json.dumps(complaint).encode(), headers=postmark_headers())
    assert subscriber_status(engine, person) == "complained"
    assert [r.type for r in _event_rows(engine)] == ["unsubscribed", "complained"]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        postmark_headers(password="wrong-password-0123456789"),
        postmark_headers(user="someone-else"),
        {"authorization": "Basic !!!not-base64"},
        {"authorization": "Bearer " + "x" * 20},
    ],
    ids=["missing", "wrong-password", "wrong-user", "garbled", "wrong-scheme"],
)
def test_postmark_refuses_bad_credentials(
    client: AppClient,
    engine: Engine,
    erhverv: ListRow,
    person: int,
    sendgrid_keys: SendGridKeys,
    headers: dict[str, str],
) -> None:
    body = json.dumps(_postmark_bounce(1, person)).encode()
    answer = client.post("/webhooks/postmark", content=body, headers=headers)
    assert answer.status_code == 401
    assert _event_rows(engine) == []
    assert subscriber_status(engine, person) == "active"


# ---------------------------------------------------------------- SendGrid


def _sendgrid_events(delivery: int, person: int) -> list[dict[str, Any]]:
    common = {
        "email": "jens@example.com",
        "timestamp": int(time.time()),
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "nl_issue": ISSUE,
        "nl_subscriber": str(person),
        "nl_delivery": str(delivery),
    }
    return [
        {**common, "event": "processed", "sg_event_id": "sg-processed-1"},
        {**common, "event": "delivered", "sg_event_id": "sg-delivered-1", "response": "250 OK"},
        {**common, "event": "open", "sg_event_id": "sg-open-1", "useragent": "Mozilla/5.0"},
        {**common, "event": "click", "sg_event_id": "sg-click-1", "url": "https://example.org"},
        {
            **common,
            "event": "bounce",
            "type": "blocked",
            "sg_event_id": "sg-blocked-1",
            "reason": "451 try later",
        },
        {**common, "event": "unsubscribe", "sg_event_id": "sg-unsub-1"},
    ]


def test_sendgrid_batch_is_verified_normalised_and_idempotent(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(_sendgrid_events(delivery, person)).encode()
    answer = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body))
    assert answer.status_code == 200
    assert answer.json() == {"stored": 5, "replayed": 0}  # "processed" is not one of our events
    rows = _event_rows(engine)
    assert [(r.type, r.hard) for r in rows] == [
        ("delivered", None),
        ("opened", None),
        ("clicked", None),
        ("bounced", False),
        ("unsubscribed", None),
    ]
    assert all(r.delivery_id == delivery for r in rows)
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert subscriber_status(engine, person) == "active"  # "blocked" is temporary

    replay = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body))
    assert replay.json() == {"stored": 0, "replayed": 5}
    assert len(_event_rows(engine)) == 5


def test_sendgrid_hard_bounce_matched_by_message_id(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv, message_id="14c5d75ce93")
    bounce = {
        "email": "jens@example.com",
        "event": "bounce",
        "type": "bounce",
        "sg_event_id": "sg-bounce-9",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "reason": "550 5.1.1 user unknown",
        "timestamp": 1700000000,
    }
    body = json.dumps([bounce]).encode()
    assert (
        client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body)).status_code
        == 200
    )
    [row] = _event_rows(engine)
    assert row.delivery_id == delivery and row.hard is True
    assert subscriber_status(engine, person) == "bounced"


def test_sendgrid_refuses_wrong_key_tampered_body_and_missing_headers(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    body = json.dumps(_sendgrid_events(1, person)).encode()
    other_keys = SendGridKeys()
    assert (
        client.post("/webhooks/sendgrid", content=body, headers=other_keys.headers(body)).status_code == 403
    )
    tampered = body.replace(b"unsubscribe", b"spamreport")
    assert (
        client.post("/webhooks/sendgrid", content=tampered, headers=sendgrid_keys.headers(body)).status_code
        == 403
    )
    headers = sendgrid_keys.headers(body)
    headers["X-Twilio-Email-Event-Webhook-Timestamp"] = "1"  # signature was over another timestamp
    assert client.post("/webhooks/sendgrid", content=body, headers=headers).status_code == 403
    assert (
        client.post(
            "/webhooks/sendgrid", content=body, headers={"content-type": "application/json"}
        ).status_code
        == 401
    )
    assert _event_rows(engine) == []


# ---------------------------------------------------------------- Mailgun


def _mailgun_event(
    delivery: int, person: int, event: str = "failed", severity: str = "permanent"
) -> dict[str, Any]:
    return {
        "id": "G9Bn5sl1TC6nu79C8C0bwg-" + event + severity,
        "event": event,
        "severity": severity,
        "timestamp": 1521233195.375624,
        "recipient": "jens@example.com",
        "reason": "bounce",
        "delivery-status": {"code": 550, "message": "No such user", "description": ""},
        "message": {"headers": {"message-id": "20130503192659.13651.20287@example.org"}},
        "user-variables": {"nl_issue": ISSUE, "nl_subscriber": str(person), "nl_delivery": str(delivery)},
    }


def test_mailgun_permanent_failure_and_complaint(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = mailgun_body(_mailgun_event(delivery, person))
    answer = client.post("/webhooks/mailgun", content=body, headers={"content-type": "application/json"})
    assert answer.json() == {"stored": 1, "replayed": 0}
    [row] = _event_rows(engine)
    assert (row.type, row.hard, row.delivery_id) == ("bounced", True, delivery)
    assert "No such user" in row.detail
    assert subscriber_status(engine, person) == "bounced"
    # Mailgun's signature covers no event, so its token is one-time: the same request again is
    # only a replay (Mailgun retrying), and changes nothing.
    again = client.post("/webhooks/mailgun", content=body)
    assert (again.status_code, again.json()) == (200, {"stored": 0, "replayed": 1})
    assert len(_event_rows(engine)) == 1


def test_mailgun_temporary_failure_is_soft(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    client.post(
        "/webhooks/mailgun", content=mailgun_body(_mailgun_event(delivery, person, severity="temporary"))
    )
    [row] = _event_rows(engine)
    assert (row.type, row.hard) == ("bounced", False)
    assert subscriber_status(engine, person) == "active"


def test_mailgun_refuses_bad_signatures(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    event = _mailgun_event(1, person)
    assert (
        client.post("/webhooks/mailgun", content=mailgun_body(event, key="wrong-key-0123456789")).status_code
        == 403
    )
    unsigned = json.dumps({"event-data": event}).encode()
    assert client.post("/webhooks/mailgun", content=unsigned).status_code == 401
    assert client.post("/webhooks/mailgun", content=b"not json").status_code == 401
    signed = json.loads(mailgun_body(event))
    signed["event-data"]["event"] = "complained"  # the signature covers timestamp+token only, but…
    signed["signature"]["token"] = "f" * 50  # …a changed token no longer verifies
    assert client.post("/webhooks/mailgun", content=json.dumps(signed).encode()).status_code == 403
    assert _event_rows(engine) == []


# ---------------------------------------------------------------- Resend


def _resend_payload(kind: str, delivery: int, person: int, bounce_type: str = "Permanent") -> dict[str, Any]:
    data: dict[str, Any] = {
        "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
        "from": "BusinessBallerup <nyhedsbrev@example.org>",
        "to": ["jens@example.com"],
        "subject": "Nyt",
        "created_at": "2024-11-22T23:41:11.894719+00:00",
        "tags": [
            {"name": "nl_issue", "value": ISSUE},
            {"name": "nl_subscriber", "value": str(person)},
            {"name": "nl_delivery", "value": str(delivery)},
        ],
    }
    if kind == "email.bounced":
        data["bounce"] = {"message": "mailbox does not exist", "subType": "General", "type": bounce_type}
    return {"type": kind, "created_at": "2024-11-22T23:41:12.126Z", "data": data}


def test_resend_bounce_complaint_and_replay(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    body = json.dumps(_resend_payload("email.bounced", delivery, person)).encode()
    headers = resend_headers(body, message_id="msg_bounce_1")
    assert client.post("/webhooks/resend", content=body, headers=headers).json() == {
        "stored": 1,
        "replayed": 0,
    }
    assert client.post("/webhooks/resend", content=body, headers=headers).json() == {
        "stored": 0,
        "replayed": 1,
    }
    [row] = _event_rows(engine)
    assert (row.provider_event_id, row.type, row.hard, row.delivery_id) == (
        "msg_bounce_1",
        "bounced",
        True,
        delivery,
    )
    assert subscriber_status(engine, person) == "bounced"

    sent = json.dumps(_resend_payload("email.sent", delivery, person)).encode()
    assert client.post("/webhooks/resend", content=sent, headers=resend_headers(sent)).json()["stored"] == 0


def test_resend_tags_as_object_and_unknown_address_is_still_suppressed(
    client: AppClient, engine: Engine, erhverv: ListRow, sendgrid_keys: SendGridKeys
) -> None:
    payload = _resend_payload("email.complained", 0, 0)
    payload["data"]["tags"] = {"nl_issue": ISSUE}
    payload["data"]["to"] = ["stranger@example.com"]
    body = json.dumps(payload).encode()
    assert client.post("/webhooks/resend", content=body, headers=resend_headers(body)).json()["stored"] == 1
    assert _suppressed(engine, "stranger@example.com") == "complained"


def test_resend_refuses_old_timestamp_bad_signature_and_missing_headers(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    body = json.dumps(_resend_payload("email.bounced", 1, person)).encode()
    old = resend_headers(body, timestamp=int(time.time()) - 6 * 60)
    assert client.post("/webhooks/resend", content=body, headers=old).status_code == 403
    wrong = resend_headers(body, secret="whsec_" + "QUJD" * 8)
    assert client.post("/webhooks/resend", content=body, headers=wrong).status_code == 403
    good = resend_headers(body)
    assert client.post("/webhooks/resend", content=body + b" ", headers=good).status_code == 403
    assert client.post("/webhooks/resend", content=body, headers={"svix-id": "x"}).status_code == 401
    assert _event_rows(engine) == []
    assert subscriber_status(engine, person) == "active"


# ---------------------------------------------------------------- common


@pytest.mark.parametrize("provider", ["postmark", "sendgrid", "mailgun", "resend"])
def test_endpoint_without_secret_is_disabled(
    client: AppClient,
    engine: Engine,
    provider: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for name in (
        "NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD",
        "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY",
        "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY",
        "NEWSLETTER_RESEND_WEBHOOK_SECRET",
    ):
        monkeypatch.delenv(name, raising=False)
    with caplog.at_level("WARNING", logger="newsletter.web.webhooks"):
        answer = client.post(f"/webhooks/{provider}", content=b"[]", headers=postmark_headers())
    assert answer.status_code == 404
    assert "is set" in caplog.text and provider in caplog.text
    assert _event_rows(engine) == []


def test_unknown_provider_and_get_are_refused(client: AppClient, sendgrid_keys: SendGridKeys) -> None:
    assert client.post("/webhooks/mandrill", content=b"{}").status_code == 404
    assert client.get("/webhooks/postmark").status_code == 405


def test_oversize_webhook_is_413(client: AppClient, engine: Engine, sendgrid_keys: SendGridKeys) -> None:
    body = json.dumps([{"event": "open", "pad": "x" * (1024 * 1024)}]).encode()
    answer = client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body))
    assert answer.status_code == 413
    assert _event_rows(engine) == []


def test_signed_but_unreadable_payload_is_400(
    client: AppClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    body = b'{"not": "a list"}'
    assert (
        client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body)).status_code
        == 400
    )
    postmark = client.post("/webhooks/postmark", content=b"[1,2]", headers=postmark_headers())
    assert postmark.status_code == 400
    assert _event_rows(engine) == []


def test_events_for_unknown_deliveries_are_kept_unmatched(
    client: AppClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    opened = {
        "email": "nobody@example.com",
        "event": "open",
        "sg_event_id": str(uuid.uuid4()),
        "nl_delivery": "999",
    }
    body = json.dumps([opened]).encode()
    assert (
        client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body)).status_code
        == 200
    )
    [row] = _event_rows(engine)
    assert row.delivery_id is None and row.subscriber_id is None
    assert count(engine, suppressions) == 0


def test_subscriber_found_by_address_when_metadata_is_missing(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    complaint = {"email": "Jens@Example.com", "event": "spamreport", "sg_event_id": "sg-spam-1"}
    body = json.dumps([complaint]).encode()
    client.post("/webhooks/sendgrid", content=body, headers=sendgrid_keys.headers(body))
    with engine.connect() as conn:
        row = subscriber_store.get_subscriber_by_id(conn, person)
    assert row is not None and row.status == "complained"


def test_absurd_correlation_values_are_stored_unmatched_not_a_500(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, sendgrid_keys: SendGridKeys
) -> None:
    event = _mailgun_event(1, person, event="delivered")
    event["user-variables"] = {"nl_issue": ISSUE, "nl_subscriber": "9" * 40, "nl_delivery": "²"}
    event["recipient"] = "not an address"
    answer = client.post("/webhooks/mailgun", content=mailgun_body(event))
    assert answer.status_code == 200
    assert answer.json() == {"stored": 1, "replayed": 0}
    [row] = _event_rows(engine)
    assert row.delivery_id is None and row.subscriber_id is None


def test_deeply_nested_body_is_refused_without_a_500(
    client: AppClient, engine: Engine, sendgrid_keys: SendGridKeys
) -> None:
    nested = b"[" * 100_000 + b"]" * 100_000
    assert client.post("/webhooks/mailgun", content=nested).status_code == 401  # unsigned, unreadable
    signed = client.post("/webhooks/postmark", content=nested, headers=postmark_headers())
    assert signed.status_code == 400
    assert "nested too deeply" in signed.text
    assert _event_rows(engine) == []
