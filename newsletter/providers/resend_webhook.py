"""Resend webhooks, signed the Svix way.

Headers ``svix-id``, ``svix-timestamp`` and ``svix-signature`` (space-separated
``v1,<base64>`` entries); the secret is ``whsec_<base64>`` in
``NEWSLETTER_RESEND_WEBHOOK_SECRET``; the signature is HMAC-SHA256 over
``{id}.{timestamp}.{body}``. Timestamps further away than ``[webhooks]
tolerance_seconds`` (five minutes by default, as Svix's own libraries) are
refused, so a captured request cannot be replayed later; within the window a
replay carries the same ``svix-id`` and changes nothing. ``svix-id`` is the
event's id. The sender's correlation keys come back as the email's tags.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

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

NAME = "resend"
SECRET_ENV = "NEWSLETTER_RESEND_WEBHOOK_SECRET"
REQUIRED_ENV = (SECRET_ENV,)

EVENT_TYPES = {
    "email.delivered": "delivered",
    "email.delivery_delayed": "deferred",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.opened": "opened",
    "email.clicked": "clicked",
}


def _secret_bytes() -> bytes:
    secret = get_secret(SECRET_ENV) or ""
    try:
        return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise WebhookRefused(503, f"{SECRET_ENV} is not a whsec_… secret") from None


def sign(secret: bytes, message_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(secret, signed, hashlib.sha256).digest()).decode()


def verify(
    headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
) -> Verified:
    message_id = headers.get("svix-id", "")
    timestamp = headers.get("svix-timestamp", "")
    signatures = headers.get("svix-signature", "")
    if not (message_id and timestamp and signatures):
        raise WebhookRefused(401, "svix-id, svix-timestamp or svix-signature header missing")
    signed_at = signed_time(timestamp, tolerance_seconds, now)
    expected = sign(_secret_bytes(), message_id, timestamp, body)
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return Verified(signed_at=signed_at)
    raise WebhookRefused(403, "signature does not verify")


def _tags(data: Mapping[str, Any]) -> dict[str, str]:
    tags = data.get("tags")
    if isinstance(tags, list):  # [{"name": …, "value": …}, …] as documented
        tags = {str(t.get("name")): t.get("value") for t in tags if isinstance(t, dict)}
    return correlation(tags if isinstance(tags, dict) else None)


def parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    payload = load_json(body)
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise WebhookPayloadError("expected a Resend event with a 'data' object")
    kind = EVENT_TYPES.get(str(payload.get("type") or ""))
    if kind is None:
        return []  # email.sent, email.failed, contact.*: nothing to record
    data = payload["data"]
    bounce = data.get("bounce") if isinstance(data.get("bounce"), dict) else {}
    # Resend reports permanent rejections as email.bounced; a Transient type is a soft one.
    hard = str(bounce.get("type") or "Permanent") != "Transient" if kind == "bounced" else None
    recipients = data.get("to") if isinstance(data.get("to"), list) else [data.get("to")]
    return [
        Event(
            provider=NAME,
            provider_event_id=headers.get("svix-id", ""),
            type=kind,
            hard=hard,
            email=str(recipients[0] or "") or None if recipients else None,
            message_id=str(data.get("email_id") or "") or None,
            metadata=_tags(data),
            occurred_at=parse_time(payload.get("created_at")),
            detail=str(bounce.get("message") or bounce.get("subType") or ""),
            raw=payload,
        )
    ]


RECEIVER = WebhookReceiver(required_env=REQUIRED_ENV, verify=verify, parse=parse)
