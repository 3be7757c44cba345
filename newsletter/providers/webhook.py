"""What every provider's webhook shares: the receiver's shape, refusals, payload errors, parsing helpers.

A provider's webhook is a module beside its adapter (``mailgun_webhook.py``
beside ``mailgun.py``) that ends with its :class:`WebhookReceiver`; the
provider class names it in ``webhook``, and ``POST /webhooks/NAME`` asks the
registry for it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from newsletter.secrets import get_secret
from newsletter.store.events import META_DELIVERY, META_ISSUE, META_SUBSCRIBER, Event

CORRELATION_KEYS = (META_ISSUE, META_SUBSCRIBER, META_DELIVERY)


class WebhookRefused(Exception):
    """The request is not provably from the provider: answer ``status`` and store nothing."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class WebhookPayloadError(Exception):
    """Signed correctly but not a payload we can read (answered 400, logged)."""


class Verifier(Protocol):
    def __call__(
        self, headers: Mapping[str, str], body: bytes, tolerance_seconds: float, now: float | None = None
    ) -> Verified:
        """Prove the request is the provider's, or raise :class:`WebhookRefused` (also when stale)."""
        ...


@dataclass(frozen=True)
class WebhookReceiver:
    """How a provider's events reach the project: verify the request, then read its events."""

    # Environment variables that must be set for the endpoint to exist (else it answers 404).
    required_env: tuple[str, ...]
    verify: Verifier
    # The project's events in a verified request; raises WebhookPayloadError when unreadable.
    parse: Callable[[Mapping[str, str], bytes], list[Event]]


@dataclass(frozen=True)
class Verified:
    """What a verified request proves: when it was signed, and a token it may use only once."""

    signed_at: datetime | None = None
    # Mailgun's token: its signature covers only timestamp + token, so the token is remembered
    # (store.events.claim_token) and a second request with it is refused.
    once: str | None = None


def check_basic_auth(headers: Mapping[str, str], user_env: str, password_env: str) -> Verified:
    """HTTP Basic credentials equal to the two environment variables (Postmark, Brevo), in constant time."""
    expected_user = get_secret(user_env) or ""
    expected_password = get_secret(password_env) or ""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic" or not encoded:
        raise WebhookRefused(401, "no Basic credentials")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise WebhookRefused(401, "malformed Basic credentials") from None
    user_ok = hmac.compare_digest(user.encode(), expected_user.encode())
    password_ok = hmac.compare_digest(password.encode(), expected_password.encode())
    if not (user_ok and password_ok):
        raise WebhookRefused(401, "wrong Basic credentials")
    return Verified()


def signed_time(timestamp: str, tolerance_seconds: float, now: float | None = None) -> datetime:
    """The signed Unix ``timestamp``; WebhookRefused unless within ``tolerance_seconds`` of now.

    Both directions count: a timestamp from the future is as suspect as an old one.
    """
    try:
        sent_at = float(timestamp)
        signed_at = datetime.fromtimestamp(sent_at, UTC)
    except (ValueError, OverflowError, OSError):
        raise WebhookRefused(403, f"signed timestamp {timestamp[:40]!r} is not a Unix time") from None
    current = time.time() if now is None else now
    if not abs(current - sent_at) <= tolerance_seconds:  # also refuses NaN
        raise WebhookRefused(
            403,
            f"signed timestamp is {round(current - sent_at)} s from now (tolerance {tolerance_seconds} s)",
        )
    return signed_at


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookPayloadError(f"body is not JSON: {exc}") from None
    except RecursionError:  # "[[[[…" a few thousand deep: no provider sends that
        raise WebhookPayloadError("body is not JSON a provider sends: nested too deeply") from None


def correlation(values: Mapping[str, Any] | None) -> dict[str, str]:
    """The sender's correlation keys (nl_issue, nl_subscriber, nl_delivery) found in ``values``."""
    if not isinstance(values, Mapping):
        return {}
    return {key: str(values[key]) for key in CORRELATION_KEYS if values.get(key) not in (None, "")}


def fingerprint(payload: Any) -> str:
    """A stable id for a payload that has none of its own (same content → same id)."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string or a Unix timestamp as an aware UTC datetime; None if unreadable."""
    if value in (None, ""):
        return None
    try:
        if isinstance(value, int | float) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
            return datetime.fromtimestamp(float(value), UTC)
        text = str(value).replace("Z", "+00:00")
        # Postmark writes seven fractional digits; fromisoformat accepts at most six.
        if "." in text:
            head, _, tail = text.partition(".")
            digits = "".join(ch for ch in tail if ch.isdigit())
            zone = tail[len(digits) :]
            text = f"{head}.{digits[:6]}{zone}"
        parsed = datetime.fromisoformat(text)
    except (ValueError, OverflowError, OSError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
