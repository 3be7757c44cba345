"""Every emulated fault, for every provider, maps to the outcome the send engine relies on.

Retryable: provably not accepted. Ambiguous: may have been accepted (the emulator
shows whether it was). Permanent: refused as a whole. And no key ever shows.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous, ProviderError, ProviderPermanent, ProviderRetryable
from newsletter.providers.base import Outcome, Provider
from newsletter.providers.registry import make_provider
from tests.emulator import Emulator
from tests.providers.conftest import KEYS, make_batch, settings_for

PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend")


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
    # None of the four documents a 5xx as "not processed"; a gateway's 502/504 can hide a success.
    emulator.inject("server_error", provider=name, status=status)
    with pytest.raises(ProviderAmbiguous, match=str(status)) as caught:
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert not isinstance(caught.value, ProviderRetryable)


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_after_the_provider_took_the_batch_is_ambiguous(
    name: str, emulator: Emulator, status: int
) -> None:
    emulator.inject("processed_then_error", provider=name, status=status)
    with pytest.raises(ProviderAmbiguous, match=str(status)):
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert emulator.accepted_count(name) == 3  # exactly why a retry without a key would duplicate


@pytest.mark.parametrize("shape", ["ok_strings", "not_json", "truncated", "wrong_length", "missing_ids"])
def test_a_success_the_adapter_cannot_read_is_never_not_sent(
    name: str, emulator: Emulator, shape: str
) -> None:
    emulator.inject("unreadable_ok", provider=name, shape=shape)
    try:
        results = provider_at(name, emulator.url).send_batch(make_batch(3))
    except ProviderError as exc:
        assert isinstance(exc, ProviderAmbiguous) and not isinstance(exc, ProviderRetryable)
        assert "may have been delivered" in str(exc)
    else:  # per message: unknown, never "retry" (the emulator sent each one)
        assert [r.outcome for r in results] == [Outcome.UNKNOWN] * 3
    assert emulator.accepted_count(name) == 3


def test_a_huge_or_millisecond_retry_after_is_read_not_crashed_on(name: str, emulator: Emulator) -> None:
    emulator.inject("huge_retry_after", provider=name)
    with pytest.raises(ProviderRetryable) as caught:
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1e13
    assert emulator.accepted_count() == 0


def test_slow_answer_past_the_timeout_is_ambiguous_and_was_accepted(name: str, emulator: Emulator) -> None:
    emulator.inject("slow", provider=name, seconds=1.0)
    with pytest.raises(ProviderAmbiguous, match="may have accepted"):
        provider_at(name, emulator.url, timeout=0.3).send_batch(make_batch(3))
    assert emulator.accepted_count(name) == 3  # exactly why it is ambiguous


def test_connection_dropped_before_reading_is_ambiguous_and_nothing_accepted(
    name: str, emulator: Emulator
) -> None:
    emulator.inject("drop_before", provider=name)
    with pytest.raises(ProviderAmbiguous):
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert emulator.accepted_count() == 0


def test_connection_dropped_after_acceptance_is_ambiguous(name: str, emulator: Emulator) -> None:
    emulator.inject("drop_after", provider=name)
    with pytest.raises(ProviderAmbiguous):
        provider_at(name, emulator.url).send_batch(make_batch(3))
    assert emulator.accepted_count(name) == 3


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
    variable = {
        "postmark": "NEWSLETTER_POSTMARK_TOKEN",
        "sendgrid": "NEWSLETTER_SENDGRID_API_KEY",
        "mailgun": "NEWSLETTER_MAILGUN_API_KEY",
        "resend": "NEWSLETTER_RESEND_API_KEY",
    }[name]
    wrong = "WRONG-secret-value-123456"
    monkeypatch.setenv(variable, wrong)
    with pytest.raises(ProviderPermanent) as caught:
        provider_at(name, emulator.url).send_batch(make_batch(1))
    assert "API key was refused" in str(caught.value)
    assert wrong not in str(caught.value)
    assert emulator.accepted_count() == 0


def test_keys_never_appear_in_errors_or_logs(
    name: str, emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ProviderError] = []
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
            provider_at(name, emulator.url, timeout=0.3).send_batch(make_batch(2))
        except ProviderError as exc:
            errors.append(exc)
    assert len(errors) == 5
    visible = " ".join(str(e) + repr(e) + str(e.__cause__) for e in errors) + caplog.text
    for key in KEYS.values():
        assert key not in visible
    assert "Authorization" not in caplog.text or "[REDACTED]" in caplog.text


def test_emulator_requires_auth(emulator: Emulator) -> None:
    with httpx.Client(base_url=emulator.url) as client:
        assert client.post("/email/batch", json=[]).status_code == 401
        assert client.post("/v3/mail/send", json={}).status_code == 401
        assert client.post("/v3/mg.example.org/messages", data={"to": "a@b.dk"}).status_code == 401
        assert client.post("/emails/batch", json=[]).status_code == 401
