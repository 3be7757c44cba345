"""Postmark webhooks: HTTP Basic auth, one JSON record per request.

Postmark has no signature; the webhook URL is configured with a user and
password (``NEWSLETTER_POSTMARK_WEBHOOK_USER`` / ``…_PASSWORD``) that it
sends as Basic auth. Records name their kind in ``RecordType``; bounces are
told apart by ``Type``. Only bounces and complaints carry an ``ID``; other
records get a fingerprint of their content, so a replay is still recognised.

Nothing in a Postmark request is signed or dated, so there is no replay window
to enforce: the credentials are the whole defence (serve the endpoint over
HTTPS only; whoever can read a request can forge any other).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from newsletter.providers.webhook import (
    Verified,
    WebhookPayloadError,
    WebhookReceiver,
    check_basic_auth,
    correlation,
    fingerprint,
    load_json,
    parse_time,
)
from newsletter.store.events import Event

NAME = "postmark"
USER_ENV = "NEWSLETTER_POSTMARK_WEBHOOK_USER"
PASSWORD_ENV = "NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD"
REQUIRED_ENV = (USER_ENV, PASSWORD_ENV)

RECORD_TYPES = {
    "Delivery": "delivered",
    "Bounce": "bounced",
    "SpamComplaint": "complained",
    "Open": "opened",
    "Click": "clicked",
}
# Bounce ``Type`` values that mean something other than a soft bounce.
HARD_BOUNCE_TYPES = {"HardBounce", "BadEmailAddress", "ManuallyDeactivated"}
BOUNCE_TYPE_AS_EVENT = {"SpamComplaint": "complained", "Unsubscribe": "unsubscribed"}
# SubscriptionChange records: why Postmark stopped sending to the address.
SUPPRESSION_REASONS = {
    "ManualSuppression": "unsubscribed",
    "HardBounce": "bounced",
    "SpamComplaint": "complained",
}
TIME_FIELDS = ("BouncedAt", "DeliveredAt", "ReceivedAt", "ChangedAt")


def verify(
    headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
) -> Verified:
    return check_basic_auth(headers, USER_ENV, PASSWORD_ENV)


def _kind(record: Mapping[str, Any]) -> tuple[str, bool | None] | None:
    record_type = str(record.get("RecordType") or "")
    if record_type == "SubscriptionChange":
        if not record.get("SuppressSending"):
            return None  # a reactivation: nothing for us to record
        kind = SUPPRESSION_REASONS.get(str(record.get("SuppressionReason")), "unsubscribed")
        return kind, True if kind == "bounced" else None
    mapped = RECORD_TYPES.get(record_type)
    if mapped != "bounced":
        return (mapped, None) if mapped else None
    bounce_type = str(record.get("Type") or "")
    if bounce_type in BOUNCE_TYPE_AS_EVENT:
        return BOUNCE_TYPE_AS_EVENT[bounce_type], None
    return "bounced", bounce_type in HARD_BOUNCE_TYPES or bool(record.get("Inactive"))


def parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    record = load_json(body)
    if not isinstance(record, dict) or "RecordType" not in record:
        raise WebhookPayloadError("expected one Postmark record with a RecordType")
    kind = _kind(record)
    if kind is None:
        return []
    event_type, hard = kind
    record_id = record.get("ID")
    event_id = f"{record['RecordType']}:{record_id}" if record_id else fingerprint(record)
    occurred = next((parse_time(record[f]) for f in TIME_FIELDS if record.get(f)), None)
    detail = str(record.get("Description") or record.get("Details") or record.get("SuppressionReason") or "")
    return [
        Event(
            provider=NAME,
            provider_event_id=event_id,
            type=event_type,
            hard=hard,
            email=str(record.get("Email") or record.get("Recipient") or "") or None,
            message_id=str(record.get("MessageID") or "") or None,
            metadata=correlation(record.get("Metadata")),
            occurred_at=occurred,
            detail=detail,
            raw=record,
        )
    ]


RECEIVER = WebhookReceiver(required_env=REQUIRED_ENV, verify=verify, parse=parse)
