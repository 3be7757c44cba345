"""The send loop against a scriptable provider: retries, ambiguity, stops, limits, pacing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.providers.base import Batch, Outcome, RecipientResult
from newsletter.send.engine import Limits, RunTotals
from newsletter.send.service import SendOptions, Started, execute_send
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries
from tests.send.fakes import FakeProvider
from tests.send.helpers import addresses, hand_made_issue, subscribe_many

FAST = Limits(batch_size=10, max_attempts=4, backoff_base=0.01, backoff_cap=0.05)


def _send(
    settings: Settings,
    provider: FakeProvider,
    options: SendOptions | None = None,
    limits: Limits = FAST,
    **kw,
):  # type: ignore[no-untyped-def]
    db = open_engine(settings.database_url)
    return execute_send(
        db, settings, hand_made_issue(), "erhverv", provider, options or SendOptions(), limits=limits, **kw
    )


def _states(settings: Settings) -> list[str]:
    with open_engine(settings.database_url).connect() as conn:
        return list(conn.execute(select(deliveries.c.state).order_by(deliveries.c.id)).scalars())


def test_sends_everyone_once_and_a_second_run_sends_nothing(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(25))
    provider = FakeProvider()
    totals = _send(settings, provider)
    assert totals.sent == 25 and totals.error is None and totals.stopped == ""
    assert [len(b.recipients) for b in provider.calls] == [10, 10, 5]
    assert set(provider.delivered.values()) == {1} and len(provider.delivered) == 25
    again = _send(settings, provider)
    assert again.sent == 0 and len(provider.calls) == 3
    assert again.counts["sent"] == 25


def test_each_message_carries_links_headers_and_ledger_metadata(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(1))
    provider = FakeProvider()
    _send(settings, provider)
    recipient = provider.calls[0].recipients[0]
    unsubscribe = recipient.values["unsubscribe_url"]
    assert unsubscribe.startswith("https://nyhedsbrev.example.org/u/")
    assert recipient.values["web_url"] == "https://nyhedsbrev.example.org/issues/2026-01-05-test-issue"
    assert recipient.values["preferences_url"].startswith("https://nyhedsbrev.example.org/preferences/")
    assert (
        recipient.headers["List-Unsubscribe"]
        == f"<{unsubscribe}>, <mailto:afmeld@example.org?subject=unsubscribe>"
    )
    assert recipient.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    with open_engine(settings.database_url).connect() as conn:
        row = conn.execute(select(deliveries.c.id, deliveries.c.subscriber_id)).one()
    assert recipient.metadata == {
        "nl_issue": "2026-01-05-test-issue",
        "nl_subscriber": str(row.subscriber_id),
        "nl_delivery": str(row.id),
    }
    from newsletter.tokens import Signer

    claim = Signer().read_unsubscribe(unsubscribe.rsplit("/", 1)[1])
    assert claim.subscriber_id == row.subscriber_id and claim.issue == "2026-01-05-test-issue"


def test_retryable_errors_requeue_without_using_an_attempt(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(10))

    def fail_twice(batch: Batch, call: int) -> list[RecipientResult] | None:
        if call <= 2:
            raise ProviderRetryable("postmark: HTTP 429", retry_after=0.0)
        return None

    provider = FakeProvider(script=fail_twice)
    totals = _send(settings, provider)
    assert totals.sent == 10 and totals.retries == 2
    with open_engine(settings.database_url).connect() as conn:
        assert set(conn.execute(select(deliveries.c.attempts)).scalars()) == {1}


def test_retry_after_is_honoured(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(3))
    moments: list[float] = []
    import time

    def rate_limited_once(batch: Batch, call: int) -> list[RecipientResult] | None:
        moments.append(time.monotonic())
        if call == 1:
            raise ProviderRetryable("HTTP 429", retry_after=0.6)
        return None

    _send(settings, FakeProvider(script=rate_limited_once))
    assert moments[1] - moments[0] >= 0.6


def test_provider_that_keeps_refusing_stops_the_run_with_nothing_lost(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(5))

    def always_503(batch: Batch, call: int) -> list[RecipientResult] | None:
        raise ProviderRetryable("postmark: HTTP 503 Service Unavailable")

    totals = _send(settings, FakeProvider(script=always_503))
    assert totals.stopped == "error" and "503" in str(totals.error)
    assert set(_states(settings)) == {"queued"}


def test_ambiguous_answer_without_idempotency_makes_the_batch_unknown(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(25))

    def timeout_on_second(batch: Batch, call: int) -> list[RecipientResult] | None:
        if call == 2:
            raise ProviderAmbiguous("postmark: ReadTimeout")
        return None

    provider = FakeProvider(script=timeout_on_second)
    totals = _send(settings, provider)
    assert (totals.sent, totals.unknown) == (15, 10)
    assert _states(settings).count("unknown") == 10
    assert len(provider.calls) == 3  # the ambiguous batch was not posted again


def test_ambiguous_answer_with_idempotency_retries_the_same_batch_and_key(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(15))

    def timeout_on_first(batch: Batch, call: int) -> list[RecipientResult] | None:
        if call == 1:
            provider.delivered.update(r.email for r in batch.recipients)  # it did arrive
            provider._keys_seen.add(batch.idempotency_key or "")
            raise ProviderAmbiguous("resend: ReadTimeout")
        return None

    provider = FakeProvider(name="resend", idempotent=True, script=timeout_on_first)
    totals = _send(settings, provider)
    assert totals.sent == 15 and totals.unknown == 0
    first_key = provider.calls[0].idempotency_key
    repeats = [call for call in provider.calls if call.idempotency_key == first_key]
    assert len(repeats) == 2 and len(provider.calls) == 3
    assert [r.email for r in repeats[0].recipients] == [r.email for r in repeats[1].recipients]
    assert set(provider.delivered.values()) == {1}
    with open_engine(settings.database_url).connect() as conn:
        attempts = sorted(conn.execute(select(deliveries.c.attempts)).scalars())
    assert attempts == [1] * 5 + [2] * 10


def test_permanent_error_stops_and_leaves_the_batch_queued(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(30))

    def key_refused(batch: Batch, call: int) -> list[RecipientResult] | None:
        if call == 2:
            raise ProviderPermanent("postmark: HTTP 401: the API key was refused")
        return None

    totals = _send(settings, FakeProvider(script=key_refused))
    assert totals.stopped == "error" and "API key was refused" in str(totals.error)
    assert _states(settings) == ["sent"] * 10 + ["queued"] * 20


def test_per_recipient_retry_is_retried_later_then_sent(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(3))

    def second_busy_once(batch: Batch, call: int) -> list[RecipientResult] | None:
        if call == 1:
            return [
                RecipientResult(Outcome.ACCEPTED, "a"),
                RecipientResult(Outcome.RETRY, reason="greylisted", retry_after=0.05),
                RecipientResult(Outcome.ACCEPTED, "c"),
            ]
        return None

    provider = FakeProvider(script=second_busy_once)
    totals = _send(settings, provider)
    assert totals.sent == 3
    assert [len(b.recipients) for b in provider.calls] == [3, 1]


def test_limit_sends_at_most_n_and_the_rest_stays_queued(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(25))
    totals = _send(settings, FakeProvider(), SendOptions(limit=12))
    assert totals.sent == 12 and totals.stopped == "limit"
    assert totals.counts["queued"] == 13
    rest = _send(settings, FakeProvider())
    assert rest.sent == 13 and rest.counts["sent"] == 25


def test_stop_request_finishes_the_batch_in_flight(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(50))
    holder: dict[str, object] = {}

    def on_start(started: Started) -> None:
        holder["sender"] = started.sender

    def stop_after_first(totals: RunTotals) -> None:
        if totals.sent >= 10:
            holder["sender"].request_stop()  # type: ignore[attr-defined]

    totals = _send(settings, FakeProvider(), on_start=on_start, on_progress=stop_after_first)
    assert totals.stopped == "interrupted" and totals.sent == 10
    assert _states(settings).count("sending") == 0


@pytest.mark.parametrize("concurrency", [1, 3])
def test_pacing_holds_the_message_rate(settings: Settings, concurrency: int) -> None:
    import time

    subscribe_many(open_engine(settings.database_url), addresses(40))
    limits = Limits(batch_size=10, messages_per_second=50, concurrency=concurrency)
    started = time.monotonic()
    totals = _send(settings, FakeProvider(), limits=limits)
    # 40 messages at 50/s: the last batch may start at 30/50 = 0.6 s.
    assert totals.sent == 40 and time.monotonic() - started >= 0.55
