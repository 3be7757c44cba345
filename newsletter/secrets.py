"""Secrets come from the environment only, and are scrubbed from every message.

Every secret the project reads is named in :data:`SECRET_ENV_VARS`. The values
are read through :func:`get_secret`, never stored in settings objects that
might be printed, and :func:`redact` replaces any of them found in a string
(error messages, log lines, reprs of HTTP requests) with ``[REDACTED]``.
"""

from __future__ import annotations

import base64
import logging
import os
import re

SECRET_ENV_VARS: tuple[str, ...] = (
    "NEWSLETTER_SECRET_KEY",
    "NEWSLETTER_POSTMARK_TOKEN",
    "NEWSLETTER_SENDGRID_API_KEY",
    "NEWSLETTER_MAILGUN_API_KEY",
    "NEWSLETTER_RESEND_API_KEY",
    "NEWSLETTER_SMTP_PASSWORD",
    "NEWSLETTER_BREVO_API_KEY",
    "NEWSLETTER_POSTMARK_WEBHOOK_PASSWORD",
    "NEWSLETTER_SENDGRID_WEBHOOK_PUBLIC_KEY",
    "NEWSLETTER_MAILGUN_WEBHOOK_SIGNING_KEY",
    "NEWSLETTER_RESEND_WEBHOOK_SECRET",
    "NEWSLETTER_BREVO_WEBHOOK_PASSWORD",
)

REDACTED = "[REDACTED]"
# Shorter values are too likely to occur by chance in ordinary text.
_MIN_REDACTABLE_LENGTH = 6
_extra_secrets: set[str] = set()


def get_secret(name: str) -> str | None:
    """The secret in environment variable ``name``, or None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def register_secret(value: str | None) -> None:
    """Also redact ``value`` (a secret that did not come from a named variable)."""
    if value and len(value) >= _MIN_REDACTABLE_LENGTH:
        _extra_secrets.add(value)


def _current_secrets() -> list[str]:
    values = set(_extra_secrets)
    for name in SECRET_ENV_VARS:
        value = get_secret(name)
        if value and len(value) >= _MIN_REDACTABLE_LENGTH:
            values.add(value)
    # Longest first, so a secret that contains another is replaced whole.
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    """``text`` with every known secret (and its Basic-auth form) replaced."""
    secrets = _current_secrets()
    if not secrets:
        return text
    for secret in secrets:
        text = text.replace(secret, REDACTED)
        for user in ("api", ""):
            encoded = base64.b64encode(f"{user}:{secret}".encode()).decode()
            text = text.replace(encoded, REDACTED)
    return re.sub(r"(?i)(authorization:\s*(?:bearer|basic)\s+)\S+", r"\1" + REDACTED, text)


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from every record it passes."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = ()
        return True


def install_log_redaction() -> None:
    """Attach :class:`RedactingFilter` to every handler of the root logger."""
    root = logging.getLogger()
    for handler in root.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
