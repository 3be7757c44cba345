"""Every emulated fault, for every provider, maps to the outcome the send engine relies on.

Retryable: provably not accepted. Ambiguous: may have been accepted (the emulator
shows whether it was) — for the whole batch, or for the one message whose request
failed where each message is its own request (Brevo, SES). Permanent: refused as a
whole. And no key ever shows.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import httpx
import pytest

from newsletter.errors import ProviderError, ProviderPermanent, ProviderRetryable
from newsletter.providers.base import Outcome, Provider
from newsletter.providers.registry import make_provider, provider_class
from tests.emulator import Emulator
from tests.providers.conftest import KEYS, ambiguous_outcome, make_batch, settings_for

PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend", "brevo", "ses")


def provider_at(name: str, url: str, timeout: float = 5.0) -> Provider:
    return make_provider(settings_for(name, url, timeout_seconds=timeout).provider)


@pytest.fixture(params=PROVIDERS)
def name(request: pytest.FixtureRequest, provider_keys: dict[str, str]) -> str:
    return str(request.param)


def test_normal_send_is_accepted_once(name: str, emulator: Emulator) -> None:
    results = provider_at(name, emulator.url).send_batch(make_batch(5))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert emulator.count_by_address() == {f"modtager{i}@example.com": 1 for i in range(5)}


def test_rate_limit_is_retryable_with_the_wait_asked_for(name: str, emulator: Emulator) -> None:
    emulator.inject("rate_limit", provider=name, retry_after=7)
    with pytest.raises(ProviderRetryable) as caught:
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert caught.value.retry_after == 7.0
    assert "429" in str(caught.value)
    assert emulator.accepted_count() == 0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_ambiguous_never_certainly_unsent(
    name: str, emulator: Emulator, status: int
) -> None:
    # None of them documents a 5xx as "not processed"; a gateway's 502/504 can hide a success.
    emulator.inject("server_error", provider=name, status=status)
    reason, _maybe_sent, _raised = ambiguous_outcome(provider_at(name, emulator.url), make_batch(3))
    assert str(status) in reason


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_after_the_provider_took_the_batch_is_ambiguous(
    name: str, emulator: Emulator, status: int
) -> None:
    emulator.inject("processed_then_error", provider=name, status=status)
    reason, maybe_sent, _raised = ambiguous_outcome(provider_at(name, emulator.url), make_batch(3))
    assert str(status) in reason
    assert emulator.accepted_count(name) == maybe_sent  # exactly why a retry without a key would duplicate


@pytest.mark.parametrize("shape", ["ok_strings", "not_json", "truncated", "wrong_length", "missing_ids"])
def test_a_success_the_adapter_cannot_read_is_never_not_sent(
    name: str, emulator: Emulator, shape: str
) -> None:
    emulator.inject("unreadable_ok", provider=name, shape=shape)
    # Never accepted, never "not sent": unknown (the reason words it per provider), and only those.
    _reason, maybe_sent, _raised = ambiguous_outcome(provider_at(name, emulator.url), make_batch(3))
    assert emulator.accepted_count(name) == maybe_sent


def test_a_huge_or_millisecond_retry_after_is_read_not_crashed_on(name: str, emulator: Emulator) -> None:
    emulator.inject("huge_retry_after", provider=name)
    with pytest.raises(ProviderRetryable) as caught:
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1e13
    assert emulator.accepted_count() == 0


def test_slow_answer_past_the_timeout_is_ambiguous_and_was_accepted(name: str, emulator: Emulator) -> None:
    emulator.inject("slow", provider=name, seconds=1.0)
    reason, maybe_sent, _raised = ambiguous_outcome(
        provider_at(name, emulator.url, timeout=0.3), make_batch(3)
    )
    assert "may have accepted" in reason
    assert emulator.accepted_count(name) == maybe_sent  # exactly why it is ambiguous


def test_connection_dropped_before_reading_is_ambiguous_and_nothing_accepted(
    name: str, emulator: Emulator
) -> None:
    emulator.inject("drop_before", provider=name)
    ambiguous_outcome(provider_at(name, emulator.url), make_batch(3))
    assert emulator.accepted_count() == 0


def test_connection_dropped_after_acceptance_is_ambiguous(name: str, emulator: Emulator) -> None:
    emulator.inject("drop_after", provider=name)
    _reason, maybe_sent, _raised = ambiguous_outcome(provider_at(name, emulator.url), make_batch(3))
    assert emulator.accepted_count(name) == maybe_sent


def test_after_a_fault_the_next_request_goes_through(name: str, emulator: Emulator) -> None:
    emulator.inject("rate_limit", provider=name, times=2)
    provider = provider_at(name, emulator.url)
    for _ in range(2):
        with pytest.raises(ProviderRetryable):
            provider.send_batch(make_batch(2))
    assert [r.outcome for r in provider.send_batch(make_batch(2))] == [Outcome.ACCEPTED] * 2


def test_connection_refused_is_retryable(name: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ProviderRetryable, match="could not connect"):
        provider_at(name, f"http://127.0.0.1:{port}").send_batch(make_batch(1))


def test_wrong_key_is_permanent_and_never_shown(
    name: str, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    credential = provider_class(name).credential
    assert credential is not None
    wrong = "WRONG-secret-value-123456"
    monkeypatch.setenv(credential.name, wrong)
    with pytest.raises(ProviderPermanent) as caught:
        provider_at(name, emulator.url).send_batch(make_batch(1))
    assert "key was refused" in str(caught.value)
    assert wrong not in str(caught.value)
    assert emulator.accepted_count() == 0


def test_keys_never_appear_in_errors_or_logs(
    name: str, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    told: list[str] = []
    faults: list[tuple[str, dict[str, Any]]] = [
        ("rate_limit", {}),
        ("server_error", {}),
        ("drop_before", {}),
        ("drop_after", {}),
        ("slow", {"seconds": 0.6}),
    ]
    for fault, params in faults:
        emulator.inject(fault, provider=name, **params)
        try:
            results = provider_at(name, emulator.url, timeout=0.3).send_batch(make_batch(2))
        except ProviderError as exc:
            told.append(str(exc) + repr(exc) + str(exc.__cause__))
        else:
            assert results[0].outcome is Outcome.UNKNOWN
            told.append(" ".join(r.reason for r in results))
    assert len(told) == 5
    visible = " ".join(told) + caplog.text
    for key in KEYS.values():
        assert key not in visible
    assert "Authorization" not in caplog.text or "[REDACTED]" in caplog.text


def test_emulator_requires_auth(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url) as client:
        assert client.post("/email/batch", json=[]).status_code == 401
        assert client.post("/v3/mail/send", json={}).status_code == 401
        assert client.post("/v3/mg.example.org/messages", data={"to": "a@b.dk"}).status_code == 401
        assert client.post("/emails/batch", json=[]).status_code == 401
        assert client.post("/v3/smtp/email", json={}).status_code == 401
        missing = client.post("/v2/email/outbound-emails", json={})
        assert missing.status_code == 403
        assert missing.headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException")
