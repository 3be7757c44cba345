"""Secrets come from the environment and never appear in messages or logs."""

from __future__ import annotations

import base64
import logging

import pytest

from newsletter.errors import ProviderPermanent
from newsletter.secrets import REDACTED, get_secret, install_log_redaction, redact, register_secret

TOKEN = "pm-token-3f9a7c1e-secret"


@pytest.fixture(autouse=True)
def postmark_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_POSTMARK_TOKEN", TOKEN)


def test_env_secret_is_replaced_everywhere_in_a_message() -> None:
    assert redact(f"token {TOKEN} and again {TOKEN}!") == f"token {REDACTED} and again {REDACTED}!"


def test_basic_auth_encodings_are_replaced() -> None:
    for user in ("api", ""):
        encoded = base64.b64encode(f"{user}:{TOKEN}".encode()).decode()
        assert encoded not in redact(f"sent header {encoded}")


def test_authorization_headers_are_replaced_even_for_unknown_values() -> None:
    text = "Authorization: Bearer re_some_unregistered_value\nauthorization: basic QWxhZGRpbjpvcGVu"
    cleaned = redact(text)
    assert "re_some_unregistered_value" not in cleaned and "QWxhZGRpbjpvcGVu" not in cleaned
    assert cleaned.count(REDACTED) == 2


def test_short_or_empty_secrets_are_not_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_RESEND_API_KEY", "abc")
    assert redact("abc is an ordinary word") == "abc is an ordinary word"
    monkeypatch.setenv("NEWSLETTER_RESEND_API_KEY", "   ")
    assert get_secret("NEWSLETTER_RESEND_API_KEY") is None


def test_a_longer_secret_containing_another_is_replaced_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSLETTER_SENDGRID_API_KEY", TOKEN + "-extended")
    assert redact(f"key={TOKEN}-extended") == f"key={REDACTED}"


def test_registered_secret_is_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("newsletter.secrets._extra_secrets", set())
    register_secret("a-webhook-secret-from-a-file")
    assert redact("got a-webhook-secret-from-a-file") == f"got {REDACTED}"


def test_errors_never_carry_the_secret() -> None:
    error = ProviderPermanent(f"postmark: refused token {TOKEN}")
    assert TOKEN not in str(error) and REDACTED in str(error)


def test_log_records_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    root.addHandler(caplog.handler)
    try:
        install_log_redaction()
        logging.getLogger("newsletter.test").warning("calling with %s", TOKEN)
    finally:
        root.removeHandler(caplog.handler)
    assert TOKEN not in caplog.text and REDACTED in caplog.text
