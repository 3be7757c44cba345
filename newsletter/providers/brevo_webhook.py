"""Brevo transactional webhooks: HTTP Basic auth, one event (or a list of events) per request.

Brevo does not sign its webhooks. It can send Basic credentials written into
the webhook URL (``https://USER:PASSWORD@…/webhooks/brevo``), which are
checked like Postmark's against ``NEWSLETTER_BREVO_WEBHOOK_USER`` /
``…_PASSWORD``; Brevo also publishes the IP ranges it calls from, which a
firewall in front of the service may enforce. Nothing is dated or signed, so
the credentials (over HTTPS) are the whole defence, as with Postmark.

Correlation comes back in ``X-Mailin-custom``, the header the adapter set
(``nl_issue=…&nl_subscriber=…&nl_delivery=…``). Brevo's ``id`` is the
webhook's id, not the event's, so an event is identified by a fingerprint of
its content: a replay is still recognised. A "batched" webhook posts a JSON
list of the same events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

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

NAME = "brevo"
USER_ENV = "NEWSLETTER_BREVO_WEBHOOK_USER"
PASSWORD_ENV = "NEWSLETTER_BREVO_WEBHOOK_PASSWORD"
REQUIRED_ENV = (USER_ENV, PASSWORD_ENV)
CUSTOM_HEADER = "X-Mailin-custom"

# Brevo's event names → (the project's type, hard bounce?). Others (request, deferred,
# proxy_open, …) are not recorded.
EVENT_TYPES: dict[str, tuple[str, bool | None]] = {
    "delivered": ("delivered", None),
    "hard_bounce": ("bounced", True),
    "invalid_email": ("bounced", True),
    "soft_bounce": ("bounced", False),
    "spam": ("complained", None),
    "complaint": ("complained", None),
    "unsubscribed": ("unsubscribed", None),
    "opened": ("opened", None),
    "unique_opened": ("opened", None),
    "click": ("clicked", None),
}


def verify(
    headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
) -> Verified:
    return check_basic_auth(headers, USER_ENV, PASSWORD_ENV)


def _metadata(record: Mapping[str, Any]) -> dict[str, str]:
    custom = record.get(CUSTOM_HEADER)
    if not isinstance(custom, str):
        return {}
    return correlation(dict(parse_qsl(custom)))


def _event(record: Any) -> Event | None:
    if not isinstance(record, dict) or "event" not in record:
        raise WebhookPayloadError("expected a Brevo event object with an 'event' field")
    kind = EVENT_TYPES.get(str(record.get("event") or ""))
    if kind is None:
        return None
    occurred = parse_time(record.get("ts_event") or record.get("ts"))
    if occurred is None and record.get("ts_epoch"):
        occurred = parse_time(float(record["ts_epoch"]) / 1000)
    return Event(
        provider=NAME,
        provider_event_id=fingerprint(record),
        type=kind[0],
        hard=kind[1],
        email=str(record.get("email") or "") or None,
        message_id=str(record.get("message-id") or "") or None,
        metadata=_metadata(record),
        occurred_at=occurred,
        detail=str(record.get("reason") or record.get("link") or ""),
        raw=record,
    )


def parse(headers: Mapping[str, str], body: bytes) -> list[Event]:
    payload = load_json(body)
    records = payload if isinstance(payload, list) else [payload]
    return [event for record in records if (event := _event(record)) is not None]


RECEIVER = WebhookReceiver(required_env=REQUIRED_ENV, verify=verify, parse=parse)
