"""Secrets come from the environment only, and are scrubbed from every message.

The project's own signing key is :data:`SECRET_KEY_VARIABLE`; each provider
declares the variables of its keys (:class:`newsletter.providers.settings.SecretVariable`
calls :func:`declare_secret`), and any ``NEWSLETTER_…`` variable whose name
ends in KEY, TOKEN, PASSWORD or SECRET is treated as one too, so a secret is
redacted even before the provider that reads it is loaded. The values are read
through :func:`get_secret`, never stored in settings objects that might be
printed, and :func:`redact` replaces any of them found in a string (error
messages, log lines, reprs of HTTP requests) with ``[REDACTED]``.
"""

from __future__ import annotations

import base64
import logging
import os
import re

SECRET_KEY_VARIABLE = "NEWSLETTER_SECRET_KEY"
_declared: set[str] = {SECRET_KEY_VARIABLE}
_SECRET_BY_NAME = re.compile(r"NEWSLETTER_\w*(KEY|TOKEN|PASSWORD|SECRET)")

REDACTED = "[REDACTED]"
# Shorter values are too likely to occur by chance in ordinary text.
_MIN_REDACTABLE_LENGTH = 6
_extra_secrets: set[str] = set()


def get_secret(name: str) -> str | None:
    """The secret in environment variable ``name``, or None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def declare_secret(variable: str) -> None:
    """Treat the value of environment variable ``variable`` as a secret from now on."""
    _declared.add(variable)


def secret_variables() -> list[str]:
    """The environment variables whose values are redacted: declared ones and those named like secrets."""
    named = {name for name in os.environ if _SECRET_BY_NAME.fullmatch(name)}
    return sorted(_declared | named)


def register_secret(value: str | None) -> None:
    """Also redact ``value`` (a secret that did not come from a named variable)."""
    if value and len(value) >= _MIN_REDACTABLE_LENGTH:
        _extra_secrets.add(value)


def _current_secrets() -> list[str]:
    values = set(_extra_secrets)
    for name in secret_variables():
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
