"""SendGrid Event Webhook: an ECDSA P-256 signature over timestamp + raw body, a JSON array of events.

The verification key is the public key SendGrid shows for the signed event
webhook (base64 DER, or PEM) in ``NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY``.
The ``custom_args`` the sender attached come back as top-level fields of
each event. ``sg_event_id`` is the event's id. The signed timestamp must be
within ``[webhooks] tolerance_seconds`` of now: a captured request cannot be
posted again later.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key, load_pem_public_key

from newsletter.providers.webhook import (
    Verified,
    WebhookPayloadError,
    WebhookReceiver,
    WebhookRefused,
    correlation,
    fingerprint,
    load_json,
    parse_time,
    signed_time,
)
from newsletter.secrets import get_secret
from newsletter.store.events import Event

NAME = "sendgrid"
KEY_ENV = "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY"
REQUIRED_ENV = (KEY_ENV,)
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"

EVENT_TYPES = {
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "dropped": "bounced",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
    "open": "opened",
    "click": "clicked",
}
# ``dropped`` means SendGrid refused to send; its reason says what the address is.
DROPPED_REASONS = {
    "Bounced Address": ("bounced", True),
    "Invalid": ("bounced", True),
    "Spam Reporting Address": ("complained", None),
    "Unsubscribed Address": ("unsubscribed", None),
}


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = load_pem_public_key(text.encode())
        else:
            key = load_der_public_key(base64.b64decode(text))
    except (ValueError, binascii.Error) as exc:
        raise ValueError(f"{KEY_ENV} is not a public key (base64 DER or PEM): {exc}") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError(f"{KEY_ENV} is not an elliptic-curve (P-256) public key")
    return key


def verify(
    headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
) -> Verified:
    signature = headers.get(SIGNATURE_HEADER, "")
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not signature or not timestamp:
        raise WebhookRefused(401, "signature or timestamp header missing")
    try:
        key = public_key(get_secret(KEY_ENV) or "")
        key.verify(base64.b64decode(signature), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise WebhookRefused(403, "signature does not verify") from None
    return Verified(signed_at=signed_time(timestamp, tolerance_seconds, now))


def _kind(event: Mapping[str, Any]) -> tuple[str, bool | None] | None:
    name = str(event.get("event") or "")
    kind = EVENT_TYPES.get(name)
    if kind is None:
        return None  # processed, group_resubscribe, …: nothing to record
    if name == "dropped":
        return DROPPED_REASONS.get(str(event.get("reason") or ""), ("bounced", False))
    if name == "bounce":
        # SendGrid calls a temporary refusal "blocked"; "bounce" is permanent.
        return "bounced", str(event.get("type") or "bounce") == "bounce"
    return kind, None


def parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    payload = load_json(body)
    if not isinstance(payload, list):
        raise WebhookPayloadError("expected a JSON array of SendGrid events")
    parsed: list[Event] = []
    for item in payload:
        if not isinstance(item, dict):
            raise WebhookPayloadError("every SendGrid event must be a JSON object")
        kind = _kind(item)
        if kind is None:
            continue
        message_id = str(item.get("sg_message_id") or "")
        parsed.append(
            Event(
                provider=NAME,
                provider_event_id=str(item.get("sg_event_id") or fingerprint(item)),
                type=kind[0],
                hard=kind[1],
                email=str(item.get("email") or "") or None,
                # sg_message_id is the X-Message-Id the send got, plus ".filter…" routing data.
                message_id=message_id.split(".", 1)[0] or None,
                metadata=correlation(item),
                occurred_at=parse_time(item.get("timestamp")),
                detail=str(item.get("reason") or item.get("response") or ""),
                raw=item,
            )
        )
    return parsed


RECEIVER = WebhookReceiver(required_env=REQUIRED_ENV, verify=verify, parse=parse)
