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
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from newsletter.providers.ses_webhook import string_to_sign

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


SES_TOPIC = "arn:aws:sns:eu-north-1:123456789012:nyhedsbrev-ses-events"
SNS_CERT_URL = "https://sns.eu-north-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"


class SnsSigner:
    """Amazon SNS's side, with a key and certificate made for the test: signs envelopes as SNS does."""

    def __init__(
        self, valid_for: timedelta = timedelta(days=1), valid_from: timedelta = timedelta(days=-1)
    ) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + valid_from)
            .not_valid_after(now + valid_from + valid_for + timedelta(days=1))
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)

    def envelope(
        self,
        message: Any,
        *,
        kind: str = "Notification",
        topic: str = SES_TOPIC,
        version: str = "2",
        cert_url: str = SNS_CERT_URL,
        timestamp: datetime | None = None,
        message_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A signed SNS message (``message`` is JSON-encoded unless it is text already)."""
        envelope: dict[str, Any] = {
            "Type": kind,
            "MessageId": message_id or str(uuid.uuid4()),
            "TopicArn": topic,
            "Message": message if isinstance(message, str) else json.dumps(message),
            "Timestamp": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "SignatureVersion": version,
            "SigningCertURL": cert_url,
            **fields,
        }
        if kind != "Notification":
            envelope.setdefault("Token", "2336412f37fb687f5d51e6e2425dacbba1ff5ff7e1f7a6c5")
            envelope.setdefault(
                "SubscribeURL",
                "https://sns.eu-north-1.amazonaws.com/?Action=ConfirmSubscription"
                f"&TopicArn={topic}&Token=2336412f37fb687f5d51e6e2425dacbba1ff5ff7e1f7a6c5",
            )
        else:
            envelope.setdefault(
                "UnsubscribeURL", "https://sns.eu-north-1.amazonaws.com/?Action=Unsubscribe&x=1"
            )
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(envelope), padding.PKCS1v15(), algorithm)
        envelope["Signature"] = base64.b64encode(signature).decode()
        return envelope


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
