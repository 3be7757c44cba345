"""The send loop against a scriptable provider: retries, ambiguity, stops, limits, pacing."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.providers.base import Outcome, RecipientResult
from newsletter.send import ledger
from newsletter.send.engine import Limits, RunTotals, Sender
from newsletter.send.report import issue_status, status_as_json, status_lines
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


class _HandClock:
    """Time that passes only when the sender sleeps: a wait of ten minutes takes no real time."""

    def __init__(self) -> None:
        self.now = 1000.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _stop_on(holder: dict[str, object]):  # type: ignore[no-untyped-def]
    def on_start(started: Started) -> None:
        holder["sender"] = started.sender

    return on_start


def test_a_per_recipient_retry_delay_survives_a_restart(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(3))

    def second_rate_limited(batch: Batch, call: int) -> list[RecipientResult] | None:
        return [
            RecipientResult(Outcome.ACCEPTED, "a"),
            RecipientResult(Outcome.RETRY, reason="HTTP 429 for this one", retry_after=600),
            RecipientResult(Outcome.ACCEPTED, "c"),
        ]

    # The first run ends (as a crash would) right after the provider asked for ten minutes.
    first = _send(settings, FakeProvider(script=second_rate_limited), SendOptions(limit=3))
    assert first.sent == 2 and first.counts["queued"] == 1
    (status,) = issue_status(open_engine(settings.database_url), hand_made_issue().slug)
    waiting = status_as_json([status])["sends"][0]["waiting_for_retry"]
    assert waiting["count"] == 1
    assert "1 of the queued wait for a retry until" in "\n".join(status_lines([status]))

    hand = _HandClock()
    moments: list[float] = []

    def note_time(batch: Batch, call: int) -> list[RecipientResult] | None:
        moments.append(hand.now)
        return None

    provider = FakeProvider(script=note_time)
    second = _send(settings, provider, clock=hand.clock, sleep=hand.sleep)
    assert second.sent == 1 and second.counts["sent"] == 3
    assert len(moments) == 1 and moments[0] - 1000.0 >= 599  # the new run waited out the 429


def test_a_429_pauses_the_whole_send_across_a_restart(settings: Settings) -> None:
    # 25 people in batches of 10: the 429 answers the first batch, yet nobody may be posted early.
    subscribe_many(open_engine(settings.database_url), addresses(25))
    holder: dict[str, object] = {}

    def unavailable(batch: Batch, call: int) -> list[RecipientResult] | None:
        holder["sender"].request_stop()  # type: ignore[attr-defined]  # Ctrl-C while it backs off
        raise ProviderRetryable("postmark: HTTP 503", retry_after=300)

    first = _send(settings, FakeProvider(script=unavailable), on_start=_stop_on(holder))
    assert first.stopped == "interrupted" and first.counts["queued"] == 25
    (status,) = issue_status(open_engine(settings.database_url), hand_made_issue().slug)
    assert status.waiting.count == 25

    hand = _HandClock()
    moments: list[float] = []

    def note_time(batch: Batch, call: int) -> list[RecipientResult] | None:
        moments.append(hand.now)
        return None

    second = _send(settings, FakeProvider(script=note_time), clock=hand.clock, sleep=hand.sleep)
    assert second.counts["sent"] == 25 and len(moments) == 3
    assert min(moments) - 1000.0 >= 299


def test_an_in_flight_batch_waiting_to_be_reposted_keeps_its_delay_and_key(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(5))
    holder: dict[str, object] = {}

    def timeout_then_429(batch: Batch, call: int) -> list[RecipientResult] | None:
        if call == 1:
            raise ProviderAmbiguous("resend: ReadTimeout")
        holder["sender"].request_stop()  # type: ignore[attr-defined]
        raise ProviderRetryable("resend: HTTP 429", retry_after=300)

    first_provider = FakeProvider(name="resend", idempotent=True, script=timeout_then_429)
    first = _send(settings, first_provider, on_start=_stop_on(holder))
    assert first.counts["sending"] == 5  # ambiguous: only the same key may carry these rows

    hand = _HandClock()
    moments: list[float] = []

    def note_time(batch: Batch, call: int) -> list[RecipientResult] | None:
        moments.append(hand.now)
        return None

    provider = FakeProvider(name="resend", idempotent=True, script=note_time)
    second = _send(settings, provider, clock=hand.clock, sleep=hand.sleep)
    assert second.counts["sent"] == 5
    assert provider.calls[0].idempotency_key == first_provider.calls[0].idempotency_key
    assert moments[0] - 1000.0 >= 299
    with open_engine(settings.database_url).connect() as conn:
        assert ledger.next_due(conn, 1) is None
        assert set(conn.execute(select(deliveries.c.not_before)).scalars()) == {None}


def _one_answer_lost(batch: Batch, number: int, lost_in: set[int]) -> list[RecipientResult] | None:
    """The first message of batch ``number`` got no readable answer (as a one-message-a-request API's 502)."""
    if number not in lost_in:
        return None
    first = RecipientResult(Outcome.UNKNOWN, reason="fake: HTTP 502 after the message was posted")
    return [first] + [
        RecipientResult(Outcome.ACCEPTED, message_id=f"m{number}-{i}")
        for i in range(1, len(batch.recipients))
    ]


def test_one_lost_answer_costs_one_message_and_the_send_goes_on(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(50))
    provider = FakeProvider(script=lambda batch, number: _one_answer_lost(batch, number, {2, 4}))
    totals = _send(settings, provider)
    assert totals.stopped == "" and totals.error is None
    assert totals.unknown == 2 and totals.sent == 48
    assert _states(settings).count("unknown") == 2


def test_lost_answers_in_three_batches_in_a_row_stop_the_send(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(80))
    provider = FakeProvider(script=lambda batch, number: _one_answer_lost(batch, number, {2, 3, 4, 5, 6}))
    totals = _send(settings, provider)
    assert totals.error is not None
    assert "3 batches in a row held messages whose answer could not be read" in str(totals.error)
    assert len(provider.calls) == 4  # stopped after the third batch in a row
    assert totals.unknown == 3 and _states(settings).count("queued") == 40


PACED = Limits(batch_size=10, max_attempts=4, backoff_base=0.01, backoff_cap=0.05, messages_per_second=10)


def _stall_while_building(
    monkeypatch: pytest.MonkeyPatch, hand: _HandClock, stalls: dict[int, float], then=None
):  # type: ignore[no-untyped-def]
    """Building batch N (1-based) takes ``stalls[N]`` seconds of the hand clock: a stalled process."""
    build = Sender._job
    built = [0]

    def slow_build(sender: Sender, key, rows):  # type: ignore[no-untyped-def]
        built[0] += 1
        hand.now += stalls.get(built[0], 0.0)
        if then is not None:
            then(sender, built[0])
        return build(sender, key, rows)

    monkeypatch.setattr(Sender, "_job", slow_build)


def test_a_batch_held_up_past_its_moment_does_not_go_together_with_the_next(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Ten a second, batches of ten: one a second. Batch 2 stalls five seconds after its moment;
    # posted then, batch 3 (whose moment had long passed too) would follow at once: 20 in a second.
    subscribe_many(open_engine(settings.database_url), addresses(40))
    hand = _HandClock()
    _stall_while_building(monkeypatch, hand, {2: 5.0})
    moments: list[float] = []

    def note_time(batch: Batch, call: int) -> list[RecipientResult] | None:
        moments.append(hand.now)
        return None

    totals = _send(settings, FakeProvider(script=note_time), limits=PACED, clock=hand.clock, sleep=hand.sleep)
    assert totals.counts["sent"] == 40
    gaps = [round(b - a, 3) for a, b in itertools.pairwise(moments)]
    assert min(gaps) >= 1.0, gaps


def test_stopping_while_a_late_batch_waits_again_puts_it_back_in_the_queue(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(30))
    hand = _HandClock()
    holder: dict[str, object] = {}

    def stop_on_second(sender: Sender, built: int) -> None:
        if built == 2:
            sender.request_stop()  # Ctrl-C while batch 2 is late and must wait for a new moment

    _stall_while_building(monkeypatch, hand, {2: 0.5}, then=stop_on_second)
    provider = FakeProvider()
    totals = _send(
        settings, provider, limits=PACED, clock=hand.clock, sleep=hand.sleep, on_start=_stop_on(holder)
    )
    assert len(provider.calls) == 1 and totals.stopped == "interrupted"
    assert _states(settings).count("queued") == 20 and "sending" not in _states(settings)
    again = _send(settings, FakeProvider())
    assert again.counts["sent"] == 30
