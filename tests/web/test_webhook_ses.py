"""Amazon SES webhooks through SNS: the signature, the certificate's address, the topic, freshness,
subscription confirmation, SES's event records and replays — with a test certificate and no network."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from newsletter.providers.ses import SesProvider
from newsletter.providers.ses_webhook import SnsClient, is_sns_url, receiver
from newsletter.store.addresses import hash_of
from newsletter.store.lists import ListRow
from newsletter.store.schema import events, suppressions
from tests.web.conftest import AppClient, add_delivery, add_member, subscriber_status
from tests.web.webhook_signing import SES_TOPIC, SNS_CERT_URL, SnsSigner

ISSUE = "2020-03-02-nyt-fra-erhvervsservice"
SES_MESSAGE_ID = "0100019abcdef012-3c4d5e6f-1a2b-4c3d-9e8f-0123456789ab-000000"


class FakeAws:
    """What the receiver may fetch: SNS's certificate and its confirmation address. Records each GET."""

    def __init__(self, signer: SnsSigner) -> None:
        self.signer = signer
        self.fetched: list[str] = []
        self.certificate_status = 200

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.fetched.append(str(request.url))
        if request.url.path.endswith(".pem"):
            return httpx.Response(self.certificate_status, content=self.signer.certificate_pem)
        if request.url.params.get("Action") == "ConfirmSubscription":
            return httpx.Response(200, text="<ConfirmSubscriptionResponse/>")
        return httpx.Response(404)


@pytest.fixture(scope="module")
def signer() -> SnsSigner:
    return SnsSigner()


@pytest.fixture
def aws(signer: SnsSigner, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeAws]:
    fake = FakeAws(signer)
    monkeypatch.setenv("NEWSLETTER_SES_TOPIC_ARN", SES_TOPIC)
    monkeypatch.setattr(SesProvider, "webhook", receiver(SnsClient(httpx.MockTransport(fake.handle))))
    yield fake


@pytest.fixture
def person(engine: Engine) -> int:
    return add_member(engine, "jens@example.com", name="Jens")


def ses_record(event_type: str, delivery_id: int, subscriber_id: int, **parts: Any) -> dict[str, Any]:
    """An SES event record as a configuration set publishes it (tags included)."""
    record: dict[str, Any] = {
        "eventType": event_type,
        "mail": {
            "timestamp": "2020-03-02T10:00:00.000Z",
            "source": "nyhedsbrev@example.org",
            "sendingAccountId": "123456789012",
            "messageId": SES_MESSAGE_ID,
            "destination": ["jens@example.com"],
            "headersTruncated": False,
            "headers": [
                {"name": "To", "value": "Jens <jens@example.com>"},
                {"name": "List-Unsubscribe", "value": "<https://nyhedsbrev.example.org/u/SECRET-TOKEN>"},
            ],
            "commonHeaders": {"to": ["Jens <jens@example.com>"], "subject": "Nyt"},
            "tags": {
                "ses:configuration-set": ["nyhedsbrev-events"],
                "nl_issue": [ISSUE],
                "nl_subscriber": [str(subscriber_id)],
                "nl_delivery": [str(delivery_id)],
            },
        },
    }
    record.update(parts)
    return record


def bounce(kind: str = "Permanent", *addresses: str) -> dict[str, Any]:
    return {
        "bounceType": kind,
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": a,
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
            for a in addresses or ("jens@example.com",)
        ],
        "timestamp": "2020-03-02T10:01:00.000Z",
        "feedbackId": "0100-feedback",
    }


def post(client: AppClient, envelope: dict[str, Any]) -> httpx.Response:
    headers = {"content-type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": envelope["Type"]}
    return client.post("/webhooks/ses", content=json.dumps(envelope).encode(), headers=headers)


def rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(events).order_by(events.c.id)))


def suppressed(engine: Engine, address: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(suppressions.c.reason).where(suppressions.c.email_hash == hash_of(address))
        ).scalar_one_or_none()


# -- accepted -----------------------------------------------------------------------------------
def test_a_signed_hard_bounce_is_stored_matched_and_suppresses(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, signer: SnsSigner, aws: FakeAws
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    envelope = signer.envelope(ses_record("Bounce", delivery, person, bounce=bounce()))
    answer = post(client, envelope)
    assert answer.status_code == 200 and answer.json() == {"stored": 1, "replayed": 0}
    [row] = rows(engine)
    assert (row.provider, row.type, row.hard) == ("ses", "bounced", True)
    assert (row.delivery_id, row.subscriber_id) == (delivery, person)
    assert row.provider_event_id == envelope["MessageId"]
    assert row.detail == "smtp; 550 5.1.1 user unknown"
    assert row.occurred_at is not None
    assert (
        subscriber_status(engine, person) == "bounced" and suppressed(engine, "jens@example.com") == "bounced"
    )
    stored = json.dumps(row.raw)
    assert "SECRET-TOKEN" not in stored and "headers" not in row.raw["mail"]  # the one-click link is not kept
    assert "jens@example.com" not in stored
    assert aws.fetched == [SNS_CERT_URL]


def test_the_certificate_is_fetched_once_and_signature_version_1_verifies(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, signer: SnsSigner, aws: FakeAws
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    delivered = {"recipients": ["jens@example.com"], "smtpResponse": "250 2.0.0 OK"}
    for version in ("1", "2"):  # SHA1 and SHA256
        envelope = signer.envelope(
            ses_record("Delivery", delivery, person, delivery=delivered), version=version
        )
        assert post(client, envelope).json() == {"stored": 1, "replayed": 0}
    assert aws.fetched == [SNS_CERT_URL]


def test_an_identity_notification_without_tags_is_matched_by_the_message_id(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, signer: SnsSigner, aws: FakeAws
) -> None:
    delivery = add_delivery(engine, person, erhverv, message_id=SES_MESSAGE_ID)
    record = ses_record(
        "Complaint", 0, 0, complaint={"complainedRecipients": [{"emailAddress": "jens@example.com"}]}
    )
    del record["eventType"], record["mail"]["tags"]
    record["notificationType"] = "Complaint"
    assert post(client, signer.envelope(record)).json() == {"stored": 1, "replayed": 0}
    [row] = rows(engine)
    assert (row.type, row.delivery_id) == ("complained", delivery)
    assert suppressed(engine, "jens@example.com") == "complained"


@pytest.mark.parametrize(
    ("event_type", "part", "kind", "hard"),
    [
        (
            "Delivery",
            {"delivery": {"recipients": ["jens@example.com"], "smtpResponse": "250 2.0.0 OK"}},
            "delivered",
            None,
        ),
        ("Bounce", {"bounce": bounce("Transient")}, "bounced", False),
        ("Bounce", {"bounce": bounce("Undetermined")}, "bounced", False),
        (
            "Complaint",
            {"complaint": {"complainedRecipients": [{"emailAddress": "jens@example.com"}]}},
            "complained",
            None,
        ),
        ("Open", {"open": {"timestamp": "2020-03-02T11:00:00.000Z"}}, "opened", None),
        (
            "Click",
            {"click": {"link": "https://example.org/a", "timestamp": "2020-03-02T11:00:00.000Z"}},
            "clicked",
            None,
        ),
        (
            "DeliveryDelay",
            {
                "deliveryDelay": {
                    "delayType": "MailboxFull",
                    "delayedRecipients": [{"emailAddress": "jens@example.com"}],
                }
            },
            "deferred",
            None,
        ),
    ],
)
def test_ses_event_types_become_the_projects_types(
    client: AppClient,
    engine: Engine,
    erhverv: ListRow,
    person: int,
    signer: SnsSigner,
    aws: FakeAws,
    event_type: str,
    part: dict[str, Any],
    kind: str,
    hard: bool | None,
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    assert post(client, signer.envelope(ses_record(event_type, delivery, person, **part))).status_code == 200
    [row] = rows(engine)
    assert (row.type, row.hard, row.delivery_id, row.subscriber_id) == (kind, hard, delivery, person)
    assert row.occurred_at is not None


@pytest.mark.parametrize(
    "record",
    [
        {"eventType": "Send", "mail": {}, "send": {}},
        {
            "eventType": "Complaint",
            "mail": {},
            "complaint": {
                "complaintFeedbackType": "not-spam",
                "complainedRecipients": [{"emailAddress": "jens@example.com"}],
            },
        },
        "Successfully validated SNS topic for Amazon SES event publishing.",
    ],
    ids=["send", "not-spam", "validation-text"],
)
def test_notifications_that_are_no_event_are_accepted_and_store_nothing(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, record: Any
) -> None:
    answer = post(client, signer.envelope(record))
    assert answer.status_code == 200 and answer.json()["stored"] == 0
    assert rows(engine) == []


def test_a_bounce_for_several_recipients_is_one_event_each(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws
) -> None:
    record = ses_record("Bounce", 0, 0, bounce=bounce("Permanent", "a@example.com", "b@example.com"))
    envelope = signer.envelope(record)
    assert post(client, envelope).json() == {"stored": 2, "replayed": 0}
    assert [r.provider_event_id for r in rows(engine)] == [
        f"{envelope['MessageId']}/1",
        f"{envelope['MessageId']}/2",
    ]
    assert suppressed(engine, "a@example.com") == suppressed(engine, "b@example.com") == "bounced"


def test_a_replay_of_the_same_message_changes_nothing(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, signer: SnsSigner, aws: FakeAws
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    envelope = signer.envelope(ses_record("Bounce", delivery, person, bounce=bounce()))
    assert post(client, envelope).json() == {"stored": 1, "replayed": 0}
    assert post(client, envelope).json() == {"stored": 0, "replayed": 1}  # SNS delivering it again
    reordered = dict(reversed(list(envelope.items())))  # same signed fields, other bytes
    assert post(client, reordered).status_code == 403
    assert len(rows(engine)) == 1


# -- refused, nothing stored, nothing fetched ---------------------------------------------------
def test_a_wrong_signature_is_refused(
    client: AppClient, engine: Engine, erhverv: ListRow, person: int, signer: SnsSigner, aws: FakeAws
) -> None:
    delivery = add_delivery(engine, person, erhverv)
    envelope = signer.envelope(ses_record("Bounce", delivery, person, bounce=bounce()))
    forged = {**envelope, "Message": envelope["Message"].replace("jens@example.com", "someone@example.com")}
    assert post(client, forged).status_code == 403
    other_key = SnsSigner().envelope(ses_record("Bounce", delivery, person, bounce=bounce()))
    assert post(client, other_key).status_code == 403
    garbage = {**envelope, "Signature": "not base64!"}
    assert post(client, garbage).status_code == 403
    assert rows(engine) == [] and subscriber_status(engine, person) == "active"


@pytest.mark.parametrize(
    "cert_url",
    [
        "https://evil.example.com/SimpleNotificationService-1.pem",
        "http://sns.eu-north-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-north-1.amazonaws.com.evil.example.com/SimpleNotificationService-1.pem",
        "https://evil.example.com/sns.eu-north-1.amazonaws.com/x.pem",
        "https://sns.eu-north-1.amazonaws.com@evil.example.com/x.pem",
        "https://user@sns.eu-north-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-north-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "https://s3.eu-north-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.eu-north-1.amazonaws.com/not-a-certificate",
        "",
    ],
)
def test_a_certificate_anywhere_but_an_sns_host_is_refused_without_fetching(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, cert_url: str
) -> None:
    envelope = signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce()), cert_url=cert_url)
    assert post(client, envelope).status_code == 403
    assert aws.fetched == [] and rows(engine) == []


@pytest.mark.parametrize("minutes", [-6, 6, -60 * 24 * 365])
def test_a_message_outside_the_tolerance_is_refused_without_fetching(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, minutes: int
) -> None:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)
    envelope = signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce()), timestamp=moment)
    assert post(client, envelope).status_code == 403
    assert aws.fetched == [] and rows(engine) == []


def test_an_unknown_topic_is_refused_without_fetching(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws
) -> None:
    envelope = signer.envelope(
        ses_record("Bounce", 0, 0, bounce=bounce()), topic="arn:aws:sns:eu-north-1:999999999999:someone-else"
    )
    assert post(client, envelope).status_code == 403
    assert aws.fetched == [] and rows(engine) == []


def test_several_topics_may_be_configured(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    bounces = "arn:aws:sns:eu-north-1:123456789012:ses-bounces"
    monkeypatch.setenv("NEWSLETTER_SES_TOPIC_ARN", f"{SES_TOPIC}, {bounces}")
    envelope = signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce()), topic=bounces)
    assert post(client, envelope).json()["stored"] == 1


@pytest.mark.parametrize(
    ("change", "status"),
    [
        ({"Type": "Advertisement"}, 403),
        ({"SignatureVersion": "3"}, 403),
        ({"Timestamp": "yesterday"}, 403),
        ({"MessageId": None}, 403),
    ],
)
def test_envelopes_sns_would_not_send_are_refused(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, change: dict[str, Any], status: int
) -> None:
    envelope = {**signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce())), **change}
    assert post(client, envelope).status_code == status
    assert rows(engine) == []


def test_a_body_that_is_not_an_sns_message_is_refused(client: AppClient, aws: FakeAws) -> None:
    assert client.post("/webhooks/ses", content=b"not json").status_code == 401
    assert client.post("/webhooks/ses", content=b"[1, 2]").status_code == 401


def test_a_message_type_header_that_contradicts_the_signed_type_is_refused(
    client: AppClient, signer: SnsSigner, aws: FakeAws
) -> None:
    envelope = signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce()))
    headers = {"x-amz-sns-message-type": "SubscriptionConfirmation"}
    assert (
        client.post("/webhooks/ses", content=json.dumps(envelope).encode(), headers=headers).status_code
        == 403
    )


def test_an_unreachable_certificate_asks_sns_to_try_again_later(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws
) -> None:
    aws.certificate_status = 503
    envelope = signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce()))
    assert post(client, envelope).status_code == 503  # SNS retries a 5xx
    aws.certificate_status = 404
    assert post(client, envelope).status_code == 403  # no certificate there: not SNS's message
    aws.certificate_status = 200
    assert post(client, envelope).status_code == 200
    assert len(rows(engine)) == 1


def test_an_expired_certificate_is_refused(
    client: AppClient, engine: Engine, aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    expired = SnsSigner(valid_from=timedelta(days=-30), valid_for=timedelta(days=1))
    aws.signer = expired
    assert post(client, expired.envelope(ses_record("Bounce", 0, 0, bounce=bounce()))).status_code == 403
    assert rows(engine) == []


def test_the_endpoint_is_disabled_until_the_topic_is_set(
    client: AppClient, signer: SnsSigner, aws: FakeAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSLETTER_SES_TOPIC_ARN")
    assert post(client, signer.envelope(ses_record("Bounce", 0, 0, bounce=bounce()))).status_code == 404
    assert aws.fetched == []


# -- subscribing --------------------------------------------------------------------------------
def test_a_subscription_confirmation_is_confirmed_at_sns(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = signer.envelope("You have chosen to subscribe to the topic …", kind="SubscriptionConfirmation")
    with caplog.at_level(logging.INFO, logger="newsletter.providers.ses"):
        answer = post(client, envelope)
    assert answer.status_code == 200 and answer.json()["stored"] == 0
    assert aws.fetched == [SNS_CERT_URL, envelope["SubscribeURL"]]
    assert "confirmed" in caplog.text
    assert rows(engine) == []


@pytest.mark.parametrize(
    "subscribe_url",
    [
        "https://evil.example.com/?Action=ConfirmSubscription&TopicArn=" + SES_TOPIC,
        "http://sns.eu-north-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=" + SES_TOPIC,
        "https://sns.eu-north-1.amazonaws.com/?Action=Unsubscribe&TopicArn=" + SES_TOPIC,
        "https://sns.eu-north-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:eu-north-1:1:other",
    ],
)
def test_a_confirmation_address_that_is_not_snss_for_this_topic_is_not_visited(
    client: AppClient, signer: SnsSigner, aws: FakeAws, subscribe_url: str
) -> None:
    envelope = signer.envelope("…", kind="SubscriptionConfirmation", SubscribeURL=subscribe_url)
    assert post(client, envelope).status_code == 400
    assert aws.fetched == [SNS_CERT_URL]  # only the certificate, to verify the signature


def test_an_unsubscribe_confirmation_is_logged_and_changes_nothing(
    client: AppClient, engine: Engine, signer: SnsSigner, aws: FakeAws, caplog: pytest.LogCaptureFixture
) -> None:
    envelope = signer.envelope("You have chosen to deactivate subscription …", kind="UnsubscribeConfirmation")
    with caplog.at_level(logging.WARNING, logger="newsletter.providers.ses"):
        assert post(client, envelope).status_code == 200
    assert "unsubscribed from SNS topic" in caplog.text
    assert aws.fetched == [SNS_CERT_URL] and rows(engine) == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://sns.eu-north-1.amazonaws.com/x.pem", True),
        ("https://sns.cn-north-1.amazonaws.com.cn/x.pem", True),
        ("https://sns.us-gov-west-1.amazonaws.com/x.pem", True),
        ("https://SNS.eu-north-1.amazonaws.com/x.pem", True),  # host names are case-insensitive
        ("https://sns.amazonaws.com/x.pem", False),
        ("https://sns.eu-north-1.amazonaws.com:443/x.pem", True),
        ("https://sns.eu-north-1.amazonaws.com:abc/x.pem", False),
        ("https://[::1]/x.pem", False),
    ],
)
def test_only_sns_hosts_are_sns_addresses(url: str, expected: bool) -> None:
    assert is_sns_url(url, path_suffix=".pem") is expected
