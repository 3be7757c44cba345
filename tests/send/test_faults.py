"""Every fault from issue 4 through the real provider emulator over loopback HTTP.

Each test asserts what a user would see: the ledger's states (as ``newsletter
status`` reports them) and how many copies each address really received.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from sqlalchemy import select

from newsletter.config import Settings
from newsletter.providers.registry import make_provider
from newsletter.send import ledger
from newsletter.send.engine import Limits, RunTotals
from newsletter.send.recipients import RecipientBuilder
from newsletter.send.report import issue_status, status_lines
from newsletter.send.service import SendOptions, execute_send
from newsletter.store.db import open_engine
from newsletter.store.schema import suppressions
from tests.emulator import Emulator
from tests.send.helpers import addresses, hand_made_issue, subscribe_many

ISSUE = hand_made_issue()


def _run(settings: Settings, *, batch_size: int = 10, concurrency: int = 1) -> RunTotals:
    db = open_engine(settings.database_url)
    provider = make_provider(settings.provider)
    limits = Limits(
        batch_size=batch_size,
        max_attempts=settings.provider.max_attempts,
        concurrency=concurrency,
        backoff_base=0.05,
        backoff_cap=0.2,
        max_wait=settings.provider.max_wait_seconds,
    )
    try:
        return execute_send(db, settings, ISSUE, "erhverv", provider, SendOptions(), limits=limits)
    finally:
        provider.close()


def _setup(configure: Callable[..., Settings], provider: str, url: str, count: int = 30, **options: object):  # type: ignore[no-untyped-def]
    settings = configure(provider, url, **options)
    people = addresses(count)
    subscribe_many(open_engine(settings.database_url), people)
    return settings, people


def _status(settings: Settings) -> str:
    return "\n".join(status_lines(issue_status(open_engine(settings.database_url), ISSUE.slug)))


def _each_once(emulator: Emulator, people: list[str]) -> bool:
    counts = emulator.count_by_address()
    return all(counts[p] == 1 for p in people) and len(counts) == len(people)


def test_postmark_429_waits_for_retry_after_then_sends_each_once(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "postmark", emulator.url)
    emulator.inject("rate_limit", provider="postmark", retry_after=1)
    started = time.monotonic()
    totals = _run(settings)
    assert time.monotonic() - started >= 1.0
    assert totals.sent == 30 and totals.counts["sent"] == 30
    assert _each_once(emulator, people)


def test_a_5xx_from_postmark_is_unknown_never_retried(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    # Postmark does not document a 5xx as "not processed": without a key, a retry could duplicate.
    settings, _people = _setup(configure, "postmark", emulator.url)
    emulator.inject("server_error", provider="postmark", status=500)
    totals = _run(settings)
    assert (totals.sent, totals.unknown) == (20, 10) and totals.error is None
    assert "may or may not have been delivered" in _status(settings)


@pytest.mark.parametrize("status", [502, 504])
def test_a_gateway_error_after_postmark_took_the_batch_sends_nobody_twice(
    configure, emulator: Emulator, status: int
) -> None:  # type: ignore[no-untyped-def]
    # Issue 9: 5 of 20 got the issue twice when a 502 in front of an accepting provider was retried.
    settings, people = _setup(configure, "postmark", emulator.url, count=20, batch_size=5)
    emulator.inject("processed_then_error", provider="postmark", status=status)
    totals = _run(settings, batch_size=5)
    assert set(emulator.count_by_address().values()) == {1}
    assert _each_once(emulator, people)  # the 5 behind the 502 went out once, and only once
    assert (totals.sent, totals.unknown) == (15, 5)


def test_a_gateway_error_with_resend_is_posted_again_under_the_same_key(
    configure, emulator: Emulator
) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url, count=20)
    emulator.inject("processed_then_error", provider="resend", status=502)
    emulator.inject("server_error", provider="resend", status=503)
    totals = _run(settings, batch_size=5)
    assert totals.sent == 20 and totals.unknown == 0
    assert _each_once(emulator, people)


@pytest.mark.parametrize("shape", ["ok_strings", "not_json", "truncated", "wrong_length", "missing_ids"])
def test_postmark_success_it_cannot_read_is_unknown_never_sent_twice(
    configure, emulator: Emulator, shape: str
) -> None:  # type: ignore[no-untyped-def]
    # Issue 9: a batch answered ["OK", …] was retried and 5 people got the issue twice.
    settings, people = _setup(configure, "postmark", emulator.url, count=20)
    emulator.inject("unreadable_ok", provider="postmark", shape=shape)
    totals = _run(settings, batch_size=5)
    assert set(emulator.count_by_address().values()) == {1}
    assert totals.unknown == 5 and totals.counts["unknown"] == 5
    # An answer nobody can read is a configuration or provider problem: the run stops there.
    assert totals.stopped == "error" and totals.counts["queued"] == 15
    again = _run(settings, batch_size=5)
    assert again.sent == 15 and _each_once(emulator, people)


@pytest.mark.parametrize("provider", ["mailgun", "sendgrid"])
def test_other_providers_success_it_cannot_read_is_unknown(
    configure, emulator: Emulator, provider: str
) -> None:  # type: ignore[no-untyped-def]
    settings, _people = _setup(configure, provider, emulator.url, count=10)
    emulator.inject("unreadable_ok", provider=provider, shape="not_json")
    totals = _run(settings, batch_size=5)
    assert totals.counts["unknown"] == 5 and set(emulator.count_by_address().values()) == {1}


@pytest.mark.parametrize("shape", ["ok_strings", "truncated", "missing_ids"])
def test_resend_success_it_cannot_read_is_posted_again_under_the_same_key(
    configure, emulator: Emulator, shape: str
) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url, count=20)
    emulator.inject("unreadable_ok", provider="resend", shape=shape)
    totals = _run(settings, batch_size=5)
    assert totals.sent == 20 and totals.unknown == 0
    assert _each_once(emulator, people)


@pytest.mark.parametrize("provider", ["postmark", "sendgrid", "mailgun", "resend"])
def test_a_huge_or_millisecond_retry_after_waits_at_most_max_wait(
    configure, emulator: Emulator, provider: str
) -> None:  # type: ignore[no-untyped-def]
    # Issue 9: Retry-After 99999999999999 crashed send (OverflowError) and the next run marked the
    # five rows the provider had refused "unknown": they were never sent.
    settings, people = _setup(configure, provider, emulator.url, count=20, max_wait_seconds=0.5)
    emulator.inject("huge_retry_after", provider=provider)
    emulator.inject(
        "huge_retry_after", provider=provider, retry_after="", reset_ms=int((time.time() + 3600) * 1000)
    )
    started = time.monotonic()
    totals = _run(settings, batch_size=5)
    assert time.monotonic() - started < 10
    assert totals.error is None and totals.sent == 20 and totals.counts["unknown"] == 0
    assert _each_once(emulator, people)


def test_an_error_while_recording_a_refusal_leaves_the_rows_queued(
    configure, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # Whatever fails after a provably-rejected answer, those rows must stay retryable.
    settings, people = _setup(configure, "postmark", emulator.url, count=10)
    emulator.inject("rate_limit", provider="postmark", retry_after=0)

    def broken(*args: object, **kwargs: object) -> None:
        raise OverflowError("date value out of range")

    working = ledger.pause_send
    monkeypatch.setattr(ledger, "pause_send", broken)
    totals = _run(settings, batch_size=5)
    assert totals.stopped == "error" and "OverflowError" in str(totals.error)
    assert totals.counts["unknown"] == 0 and totals.counts["sending"] == 0
    monkeypatch.setattr(ledger, "pause_send", working)
    again = _run(settings, batch_size=5)
    assert again.counts["sent"] == 10 and again.counts["unknown"] == 0
    assert _each_once(emulator, people)


def test_a_batch_that_cannot_be_built_after_its_claim_stays_queued(
    configure, emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    settings, _people = _setup(configure, "postmark", emulator.url, count=10)

    def broken(self: RecipientBuilder, row: object) -> None:
        raise ValueError("cannot mint a token")

    monkeypatch.setattr(RecipientBuilder, "for_row", broken)
    totals = _run(settings, batch_size=5)
    assert totals.stopped == "error" and "cannot mint a token" in str(totals.error)
    assert totals.counts["queued"] == 10 and totals.counts["sending"] == 0
    assert emulator.count_by_address() == {}


def test_connection_refused_never_reached_the_provider_so_rows_stay_queued(
    configure, emulator: Emulator
) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    settings, people = _setup(configure, "postmark", f"http://127.0.0.1:{closed_port}", max_attempts=2)
    totals = _run(settings)
    assert totals.stopped == "error" and "could not connect" in str(totals.error)
    assert totals.counts["queued"] == 30 and totals.counts["unknown"] == 0
    again = _run(configure("postmark", emulator.url))
    assert again.sent == 30 and _each_once(emulator, people)


def test_connection_reset_is_ambiguous_for_postmark_even_before_the_body_was_read(
    configure, emulator: Emulator
) -> None:  # type: ignore[no-untyped-def]
    # A reset looks the same to the client whether the server read the request or not,
    # so without an idempotency key the rows must be "unknown", never silently re-sent.
    settings, people = _setup(configure, "postmark", emulator.url)
    emulator.inject("drop_before", provider="postmark")
    totals = _run(settings)
    assert (totals.sent, totals.unknown) == (20, 10)
    assert len(emulator.count_by_address()) == 20
    # The user decides: --resend-unknown delivers the ten, still exactly once here.
    db = open_engine(settings.database_url)
    provider = make_provider(settings.provider)
    limits = Limits(batch_size=10, backoff_base=0.05)
    again = execute_send(
        db, settings, ISSUE, "erhverv", provider, SendOptions(resend_unknown=True), limits=limits
    )
    assert again.sent == 10 and _each_once(emulator, people)


def test_connection_reset_with_resend_is_retried_under_the_same_key(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url)
    emulator.inject("drop_before", provider="resend", times=2)
    totals = _run(settings)
    assert totals.sent == 30 and totals.unknown == 0
    assert _each_once(emulator, people)


def test_read_timeout_with_postmark_leaves_the_batch_unknown(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "postmark", emulator.url, timeout_seconds=0.5)
    emulator.inject("slow", provider="postmark", seconds=1.5)
    totals = _run(settings)
    assert (totals.sent, totals.unknown) == (20, 10)
    assert _each_once(emulator, people)  # the slow batch did arrive, and was not sent again
    report = _status(settings)
    assert "unknown 10" in report and "--resend-unknown" in report
    assert "may or may not have been delivered" in report


def test_read_timeout_with_resend_is_retried_safely_under_the_same_key(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url, timeout_seconds=0.5)
    emulator.inject("slow", provider="resend", seconds=1.5)
    totals = _run(settings)
    assert totals.sent == 30 and totals.unknown == 0
    assert _each_once(emulator, people)
    from newsletter.store.schema import deliveries

    with open_engine(settings.database_url).connect() as conn:
        attempts = sorted(conn.execute(select(deliveries.c.attempts)).scalars())
    assert attempts == [1] * 20 + [2] * 10  # the slow batch was posted again, under its key


def test_drop_after_accept_postmark_unknown_resend_once(configure, emulator: Emulator, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "postmark", emulator.url)
    emulator.inject("drop_after", provider="postmark")
    totals = _run(settings)
    assert (totals.sent, totals.unknown) == (20, 10)
    assert _each_once(emulator, people)


def test_drop_after_accept_with_resend_is_retried_with_the_same_key(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url)
    emulator.inject("drop_after", provider="resend")
    totals = _run(settings)
    assert totals.sent == 30 and totals.unknown == 0
    assert _each_once(emulator, people)


def test_postmark_406_inside_a_200_fails_and_suppresses_that_address(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "postmark", emulator.url, count=5)
    emulator.mark_inactive(people[2])
    totals = _run(settings)
    assert (totals.sent, totals.failed, totals.suppressed) == (4, 1, 1)
    report = _status(settings)
    assert f"{people[2]}:" in report and "--retry-failed" in report
    with open_engine(settings.database_url).connect() as conn:
        assert conn.execute(select(suppressions.c.reason)).scalars().all() == ["invalid"]
    # Retrying the failed rows leaves a suppressed address alone.
    from newsletter.send.plan import find_list_id, get_send
    from newsletter.send.recovery import prepare_resume

    db = open_engine(settings.database_url)
    with db.connect() as conn:
        send = get_send(conn, ISSUE.slug, find_list_id(conn, "erhverv"))
    assert send is not None
    assert prepare_resume(db, send, make_provider(settings.provider), retry_failed=True).requeued_failed == 0


def test_mailgun_one_bad_address_fails_alone(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "mailgun", emulator.url, count=6)
    emulator.mark_invalid(people[3])
    totals = _run(settings)
    assert (totals.sent, totals.failed) == (5, 1)
    counts = emulator.count_by_address()
    assert counts[people[3]] == 0 and all(counts[p] == 1 for p in people if p != people[3])


def test_resend_idempotency_conflict_on_a_fresh_key_stops_with_nothing_sent(
    configure, emulator: Emulator
) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url, count=5)
    emulator.inject("idempotency_conflict", provider="resend")
    totals = _run(settings)
    assert totals.stopped == "error" and "409" in str(totals.error)
    assert totals.counts["queued"] == 5 and emulator.count_by_address() == {}
    again = _run(settings)
    assert again.sent == 5 and _each_once(emulator, people)


def test_resend_conflict_after_an_accepted_try_is_unknown_never_a_second_copy(
    configure, emulator: Emulator
) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "resend", emulator.url, count=5)
    emulator.inject("drop_after", provider="resend")  # accepted, answer lost
    emulator.inject("idempotency_conflict", provider="resend")  # the retry under the same key is refused
    totals = _run(settings)
    assert totals.counts["unknown"] == 5
    assert _each_once(emulator, people)
