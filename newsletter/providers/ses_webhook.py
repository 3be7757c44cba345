"""Amazon SES events through Amazon SNS: ``POST /webhooks/ses`` verifies SNS's signature.

SES publishes bounces, complaints and deliveries (an identity's feedback
notifications) or every event of a configuration set (event publishing) to an
SNS topic; SNS posts each as a JSON envelope signed with a certificate of its
own. The endpoint exists once ``NEWSLETTER_SES_TOPIC_ARN`` names the topic
(several, comma-separated: identity notifications may use one topic per kind).
The topic ARN is not secret, but it is the receiver's own setting and the
receiver sees no ``newsletter.toml``, so it comes from the environment.

A request is refused (stored nothing) unless, in this order and before any
network use: its ``Type`` is one SNS signs, its ``TopicArn`` is configured, its
``SignatureVersion`` is 1 (SHA1) or 2 (SHA256), its ``SigningCertURL`` is
``https://sns.<region>.amazonaws.com[.cn]/….pem`` and its ``Timestamp`` is within
``[webhooks] tolerance_seconds``. Then the certificate is fetched (once per
URL, kept in memory) and the signature checked over the string to sign AWS
documents for the type. The SNS ``MessageId`` is the request's one-time token
and the events' id, so a replay stores nothing new. The fetch is synchronous,
as the receiver contract is: the first message signed with a new certificate
waits for it (10 s at most); SNS rotates certificates rarely.

A ``SubscriptionConfirmation`` is confirmed by fetching its ``SubscribeURL`` —
only an SNS address with ``Action=ConfirmSubscription`` for the same topic.
An ``UnsubscribeConfirmation`` is logged: events stop until someone subscribes
the endpoint again.

Events map like the other providers'; correlation comes from ``mail.tags``
(configuration sets publish the ``EmailTags`` the adapter set; identity
notifications have none, and the ``mail.messageId`` we recorded matches the
ledger row instead). The stored payload is the SES record without
``mail.headers``: they hold the recipient's one-click unsubscribe link, which
must not outlive the message in a table of events.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from newsletter.providers.webhook import (
    Verified,
    WebhookPayloadError,
    WebhookReceiver,
    WebhookRefused,
    correlation,
    load_json,
    parse_time,
    signed_time,
)
from newsletter.secrets import get_secret
from newsletter.store.events import Event

NAME = "ses"
TOPIC_ENV = "NEWSLETTER_SES_TOPIC_ARN"
REQUIRED_ENV = (TOPIC_ENV,)
log = logging.getLogger("newsletter.providers.ses")

# The fields SNS signs, in the order of the string to sign, per message type (Subject only when present).
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
    "UnsubscribeConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}
# sns.eu-north-1.amazonaws.com, sns.cn-north-1.amazonaws.com.cn — and nothing else.
SNS_HOST = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d+\.amazonaws\.com(?:\.cn)?")
_CERTIFICATES_KEPT = 16

# SES event names (eventType, or notificationType for identity notifications) → the project's type.
# Send, Reject, Rendering Failure and Subscription are not recorded.
EVENT_TYPES = {
    "Bounce": "bounced",
    "Complaint": "complained",
    "Delivery": "delivered",
    "DeliveryDelay": "deferred",
    "Open": "opened",
    "Click": "clicked",
}


def configured_topics() -> frozenset[str]:
    """The topic ARNs in NEWSLETTER_SES_TOPIC_ARN (comma- or space-separated)."""
    return frozenset(re.split(r"[\s,]+", get_secret(TOPIC_ENV) or "")) - {""}


def is_sns_url(url: str, *, path_suffix: str = "") -> bool:
    """An https address on an Amazon SNS host (default port, no user info) whose path ends in ``path_suffix``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    return (
        parts.scheme == "https"
        and parts.username is None
        and parts.password is None
        and port in (None, 443)
        and SNS_HOST.fullmatch(parts.hostname or "") is not None
        and parts.path.endswith(path_suffix)
    )


class SnsClient:
    """The receiver's only network use: SNS signing certificates (kept in memory) and confirmations.

    Nothing is fetched from an address that :func:`is_sns_url` refuses. Tests pass an
    ``httpx.MockTransport``; redirects are not followed.
    """

    def __init__(self, transport: httpx.BaseTransport | None = None, timeout: float = 10.0) -> None:
        self._transport = transport
        self._timeout = timeout
        self._client: httpx.Client | None = None
        self._certificates: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()

    def _get(self, url: str) -> httpx.Response:
        if not is_sns_url(url):
            raise ValueError(f"not an Amazon SNS address: {url[:80]!r}")
        with self._lock:
            if self._client is None:
                self._client = httpx.Client(
                    transport=self._transport, timeout=self._timeout, follow_redirects=False
                )
            client = self._client
        return client.get(url)

    def certificate(self, url: str) -> x509.Certificate:
        """The signing certificate at ``url``; WebhookRefused when it cannot be had."""
        with self._lock:
            if url in self._certificates:
                self._certificates.move_to_end(url)
                return self._certificates[url]
        if not is_sns_url(url, path_suffix=".pem"):
            raise WebhookRefused(403, "SigningCertURL is not an Amazon SNS certificate address")
        host = urlsplit(url).hostname
        try:
            response = self._get(url)
        except httpx.HTTPError as exc:
            # Perhaps SNS's own message: answer 503, and SNS delivers it again later.
            raise WebhookRefused(503, f"could not fetch the SNS certificate from {host}: {exc}") from None
        if response.status_code >= 500:
            raise WebhookRefused(503, f"{host} answered HTTP {response.status_code} for the SNS certificate")
        if response.status_code != 200:
            raise WebhookRefused(
                403, f"{host} has no certificate at that address (HTTP {response.status_code})"
            )
        try:
            certificate = x509.load_pem_x509_certificate(response.content)
        except ValueError:
            raise WebhookRefused(403, f"what {host} answered is not a PEM certificate") from None
        with self._lock:
            self._certificates[url] = certificate
            while len(self._certificates) > _CERTIFICATES_KEPT:
                self._certificates.popitem(last=False)
        return certificate

    def confirm(self, subscribe_url: str, topic_arn: str) -> None:
        """Confirm a subscription to ``topic_arn``; WebhookPayloadError when it cannot be done."""
        query = parse_qs(urlsplit(subscribe_url).query)
        if not (
            is_sns_url(subscribe_url)
            and query.get("Action") == ["ConfirmSubscription"]
            and query.get("TopicArn") == [topic_arn]
        ):
            raise WebhookPayloadError(
                "SubscribeURL is not Amazon SNS's confirmation address for this topic: not visited"
            )
        host = urlsplit(subscribe_url).hostname
        try:
            response = self._get(subscribe_url)
        except httpx.HTTPError as exc:
            raise WebhookPayloadError(f"could not confirm the subscription at {host}: {exc}") from None
        if response.status_code != 200:
            raise WebhookPayloadError(
                f"{host} answered HTTP {response.status_code} to the subscription confirmation — "
                "request a new confirmation in the SNS console"
            )


def string_to_sign(envelope: Mapping[str, Any]) -> bytes:
    """What SNS signed: each signed field's name and value on lines of their own."""
    fields = SIGNED_FIELDS[envelope["Type"]]
    return "".join(
        f"{name}\n{envelope[name]}\n" for name in fields if isinstance(envelope.get(name), str)
    ).encode()


def _envelope(body: bytes) -> dict[str, Any]:
    try:
        envelope = load_json(body)
    except WebhookPayloadError:
        raise WebhookRefused(401, "body is not JSON, so it carries no SNS signature") from None
    if not isinstance(envelope, dict):
        raise WebhookRefused(401, "body is not an SNS message")
    kind = envelope.get("Type")
    if kind not in SIGNED_FIELDS:
        raise WebhookRefused(403, f"SNS message type {str(kind)[:40]!r} is not one SNS signs")
    for name in SIGNED_FIELDS[kind]:
        if name != "Subject" and not isinstance(envelope.get(name), str):
            raise WebhookRefused(403, f"SNS message without {name}")
    return envelope


class SnsEndpoint:
    """Verifies and reads what SNS posts to ``/webhooks/ses``."""

    def __init__(self, sns: SnsClient) -> None:
        self.sns = sns

    def verify(
        self, headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
    ) -> Verified:
        envelope = _envelope(body)
        kind = envelope["Type"]
        announced = headers.get("x-amz-sns-message-type")
        if announced is not None and announced != kind:
            raise WebhookRefused(403, "x-amz-sns-message-type differs from the signed Type")
        if envelope["TopicArn"] not in configured_topics():
            raise WebhookRefused(403, f"topic {envelope['TopicArn'][:120]!r} is not in {TOPIC_ENV}")
        algorithm = HASHES.get(str(envelope.get("SignatureVersion")))
        if algorithm is None:
            raise WebhookRefused(403, "SignatureVersion is neither 1 nor 2")
        certificate_url = envelope.get("SigningCertURL")
        if not isinstance(certificate_url, str) or not is_sns_url(certificate_url, path_suffix=".pem"):
            raise WebhookRefused(
                403, "SigningCertURL is not https://sns.<region>.amazonaws.com/….pem: not fetched"
            )
        published = parse_time(envelope["Timestamp"])
        if published is None:
            raise WebhookRefused(403, "Timestamp is not a time")
        signed_at = signed_time(str(published.timestamp()), tolerance_seconds, now)
        try:
            signature = base64.b64decode(str(envelope.get("Signature") or ""), validate=True)
        except binascii.Error:
            raise WebhookRefused(403, "Signature is not base64") from None
        certificate = self.sns.certificate(certificate_url)
        moment = datetime.fromtimestamp(time.time() if now is None else now, UTC)
        if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
            raise WebhookRefused(403, "the SNS signing certificate is not valid now")
        key = certificate.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise WebhookRefused(403, "the SNS signing certificate holds no RSA key")
        try:
            key.verify(signature, string_to_sign(envelope), padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            raise WebhookRefused(403, "SNS signature does not verify") from None
        return Verified(signed_at=signed_at, once=envelope["MessageId"])

    def parse(self, headers: Mapping[str, str], body: bytes) -> list[Event]:
        envelope = _envelope(body)
        kind = envelope["Type"]
        if kind == "SubscriptionConfirmation":
            self.sns.confirm(envelope["SubscribeURL"], envelope["TopicArn"])
            log.info("SNS subscription to %s confirmed: SES events will arrive here", envelope["TopicArn"])
            return []
        if kind == "UnsubscribeConfirmation":
            log.warning(
                "this endpoint was unsubscribed from SNS topic %s: no more SES events arrive until it is "
                "subscribed again",
                envelope["TopicArn"],
            )
            return []
        try:
            record = load_json(envelope["Message"].encode())
        except WebhookPayloadError:
            record = None
        if not isinstance(record, dict):
            # E.g. "Successfully validated SNS topic for Amazon SES event publishing.": no event.
            log.info(
                "SNS message %s on %s is not an SES event: nothing recorded",
                envelope["MessageId"],
                envelope["TopicArn"],
            )
            return []
        return ses_events(record, envelope["MessageId"])


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _tags(mail: Mapping[str, Any]) -> dict[str, str]:
    """``mail.tags`` ({name: [value, …]}) → the correlation keys among them."""
    tags = _object(mail.get("tags"))
    firsts = {
        name: values[0] if isinstance(values, list) and values else values for name, values in tags.items()
    }
    return correlation(firsts)


def _affected(
    kind: str, record: Mapping[str, Any], mail: Mapping[str, Any]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The event's own object, and (address, detail) for each recipient it is about."""
    if kind == "Bounce":
        bounce = _object(record.get("bounce"))
        people = [
            (
                str(r.get("emailAddress") or ""),
                str(r.get("diagnosticCode") or r.get("status") or bounce.get("bounceSubType") or ""),
            )
            for r in map(_object, _list(bounce.get("bouncedRecipients")))
        ]
        return bounce, people
    if kind == "Complaint":
        complaint = _object(record.get("complaint"))
        detail = str(complaint.get("complaintFeedbackType") or "")
        return complaint, [
            (str(_object(r).get("emailAddress") or ""), detail)
            for r in _list(complaint.get("complainedRecipients"))
        ]
    if kind == "Delivery":
        delivery = _object(record.get("delivery"))
        detail = str(delivery.get("smtpResponse") or "")
        return delivery, [(str(address), detail) for address in _list(delivery.get("recipients"))]
    if kind == "DeliveryDelay":
        delay = _object(record.get("deliveryDelay"))
        people = [
            (str(r.get("emailAddress") or ""), str(r.get("diagnosticCode") or delay.get("delayType") or ""))
            for r in map(_object, _list(delay.get("delayedRecipients")))
        ]
        return delay, people
    own = _object(record.get("open" if kind == "Open" else "click"))
    detail = str(own.get("link") or "") if kind == "Click" else ""
    return own, [(str(address), detail) for address in _list(mail.get("destination"))]


def ses_events(record: Mapping[str, Any], sns_message_id: str) -> list[Event]:
    """The project's events in one SES record (one per recipient it names)."""
    kind = str(record.get("eventType") or record.get("notificationType") or "")
    event_type = EVENT_TYPES.get(kind)
    if event_type is None:
        return []
    mail = _object(record.get("mail"))
    own, people = _affected(kind, record, mail)
    if kind == "Complaint" and own.get("complaintFeedbackType") == "not-spam":
        return []  # the report says the message is wanted after all
    hard: bool | None = None
    if kind == "Bounce":
        hard = own.get("bounceType") == "Permanent"  # Transient and Undetermined may pass
    # Without the headers: they carry the recipient's one-click unsubscribe link.
    raw = {**record, "mail": {name: value for name, value in mail.items() if name != "headers"}}
    occurred = parse_time(own.get("timestamp")) or parse_time(mail.get("timestamp"))
    message_id = str(mail.get("messageId") or "") or None
    metadata = _tags(mail)
    return [
        Event(
            provider=NAME,
            provider_event_id=sns_message_id if len(people) == 1 else f"{sns_message_id}/{number}",
            type=event_type,
            hard=hard,
            email=address or None,
            message_id=message_id,
            metadata=metadata,
            occurred_at=occurred,
            detail=detail,
            raw=raw,
        )
        for number, (address, detail) in enumerate(people, start=1)
    ]


def receiver(sns: SnsClient | None = None) -> WebhookReceiver:
    """The ``/webhooks/ses`` receiver; ``sns`` replaces its network client (tests)."""
    endpoint = SnsEndpoint(sns or SnsClient())
    return WebhookReceiver(required_env=REQUIRED_ENV, verify=endpoint.verify, parse=endpoint.parse)


RECEIVER = receiver()
