"""Mailgun webhooks: HMAC-SHA256 of timestamp + token with the webhook signing key.

The JSON body holds ``signature`` ({timestamp, token, signature}) and one
``event-data`` object. The sender's variables come back in
``user-variables``; the event's id is ``event-data.id``.

The signature does not cover the event: a captured triple verifies with any
``event-data``. So the timestamp must be fresh (``[webhooks] tolerance_seconds``)
and the token is used once (the caller claims :attr:`Verified.once` in the
database); the signing material is never stored with the event.
"""

from __future__ import annotations

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
    fingerprint,
    load_json,
    parse_time,
    signed_time,
)
from newsletter.secrets import get_secret
from newsletter.store.events import Event

NAME = "mailgun"
KEY_ENV = "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY"
REQUIRED_ENV = (KEY_ENV,)

EVENT_TYPES = {
    "delivered": "delivered",
    "failed": "bounced",
    "complained": "complained",
    "unsubscribed": "unsubscribed",
    "opened": "opened",
    "clicked": "clicked",
}


def verify(
    headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
) -> Verified:
    try:
        payload = load_json(body)
    except WebhookPayloadError:
        raise WebhookRefused(401, "body is not JSON, so it carries no signature") from None
    signature = payload.get("signature") if isinstance(payload, dict) else None
    if not isinstance(signature, dict) or not all(
        signature.get(k) for k in ("timestamp", "token", "signature")
    ):
        raise WebhookRefused(401, "signature object missing")
    key = (get_secret(KEY_ENV) or "").encode()
    signed = f"{signature['timestamp']}{signature['token']}".encode()
    expected = hmac.new(key, signed, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, str(signature["signature"])):
        raise WebhookRefused(403, "signature does not verify")
    signed_at = signed_time(str(signature["timestamp"]), tolerance_seconds, now)
    return Verified(signed_at=signed_at, once=str(signature["token"]))


def _kind(data: Mapping[str, Any]) -> tuple[str, bool | None] | None:
    kind = EVENT_TYPES.get(str(data.get("event") or ""))
    if kind is None:
        return None  # accepted, stored, …
    if kind == "bounced":
        return "bounced", str(data.get("severity") or "") == "permanent"
    return kind, None


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    payload = load_json(body)
    data = payload.get("event-data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        raise WebhookPayloadError("expected an 'event-data' object")
    kind = _kind(data)
    if kind is None:
        return []
    message = _object(data.get("message"))
    message_headers = _object(message.get("headers"))
    status = _object(data.get("delivery-status"))
    detail = str(status.get("description") or status.get("message") or data.get("reason") or "")
    return [
        Event(
            provider=NAME,
            provider_event_id=str(data.get("id") or fingerprint(data)),
            type=kind[0],
            hard=kind[1],
            email=str(data.get("recipient") or "") or None,
            message_id=str(message_headers.get("message-id") or "").strip("<>") or None,
            metadata=correlation(data.get("user-variables")),
            occurred_at=parse_time(data.get("timestamp")),
            detail=detail,
            # Without "signature": kept, the triple could be replayed by anyone who reads the event.
            raw={"event-data": data},
        )
    ]


RECEIVER = WebhookReceiver(required_env=REQUIRED_ENV, verify=verify, parse=parse)
