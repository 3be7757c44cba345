"""Sign webhook requests the way each provider does, with keys made up for the test.

Shared by the webhook tests and the benchmark.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

POSTMARK_USER = "postmark-hooks"
POSTMARK_PASSWORD = "pm-webhook-password-0123456789"
MAILGUN_KEY = "mailgun-signing-key-0123456789abcdef"
RESEND_SECRET = "whsec_" + base64.b64encode(b"resend-test-secret-32-bytes-long!").decode()


class SendGridKeys:
    """A fresh P-256 key pair; the public half in SendGrid's base64 DER form."""

    def __init__(self) -> None:
        self.private = ec.generate_private_key(ec.SECP256R1())
        der = self.private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.public_b64 = base64.b64encode(der).decode()

    def headers(self, body: bytes, timestamp: str | None = None) -> dict[str, str]:
        stamp = timestamp or str(int(time.time()))
        signature = self.private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "content-type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
        }


def postmark_headers(user: str = POSTMARK_USER, password: str = POSTMARK_PASSWORD) -> dict[str, str]:
    encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {encoded}", "content-type": "application/json"}


def mailgun_body(event_data: dict[str, Any], key: str = MAILGUN_KEY, timestamp: str | None = None) -> bytes:
    stamp = timestamp or str(int(time.time()))
    token = secrets.token_hex(25)
    signature = hmac.new(key.encode(), f"{stamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"signature": {"timestamp": stamp, "token": token, "signature": signature}, "event-data": event_data}
    ).encode()


def resend_headers(
    body: bytes, *, secret: str = RESEND_SECRET, message_id: str | None = None, timestamp: int | None = None
) -> dict[str, str]:
    msg_id = message_id or "msg_" + secrets.token_hex(12)
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{stamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "content-type": "application/json",
        "svix-id": msg_id,
        "svix-timestamp": stamp,
        "svix-signature": f"v1,{signature}",
    }


def set_webhook_secrets(environ: Any, sendgrid: SendGridKeys) -> None:
    """Put every provider's webhook secret into ``environ`` (os.environ or a monkeypatch)."""
    values = {
        "NEWSLETTER_POSTMARK_WEBHOOK_USER": POSTMARK_USER,
        "NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD": POSTMARK_PASSWORD,
        "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY": sendgrid.public_b64,
        "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY": MAILGUN_KEY,
        "NEWSLETTER_RESEND_WEBHOOK_SECRET": RESEND_SECRET,
    }
    for name, value in values.items():
        if environ is os.environ:
            os.environ[name] = value
        else:
            environ.setenv(name, value)
