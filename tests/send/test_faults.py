"""Every fault from issue 4 through the real provider emulator over loopback HTTP.

Each test asserts what a user would see: the ledger's states (as ``newsletter
status`` reports them) and how many copies each address really received.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import select

from newsletter.config import Settings
from newsletter.providers import make_provider
from newsletter.send.engine import Limits, RunTotals
from newsletter.send.report import issue_status, status_lines
from newsletter.send.service import SendOptions, execute_send
from newsletter.store.db import open_engine
from newsletter.store.schema import suppressions
from tests.emulator import Emulator
from tests.send.helpers import addresses, hand_made_issue, subscribe_many

ISSUE = hand_made_issue()


def _run(settings: Settings, *, batch_size: int = 10, concurrency: int = 1) -> RunTotals:
    db = open_engine(settings.database_url)
    provider = make_provider(settings)
    limits = Limits(
        batch_size=batch_size,
        max_attempts=settings.provider.max_attempts,
        concurrency=concurrency,
        backoff_base=0.05,
        backoff_cap=0.2,
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


def test_500_and_503_are_retried(configure, emulator: Emulator) -> None:  # type: ignore[no-untyped-def]
    settings, people = _setup(configure, "postmark", emulator.url)
    emulator.inject("server_error", provider="postmark", status=500)
    emulator.inject("server_error", provider="postmark", status=503)
    totals = _run(settings)
    assert totals.sent == 30 and totals.error is None
    assert _each_once(emulator, people)


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
    provider = make_provider(settings)
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
    assert prepare_resume(db, send, make_provider(settings), retry_failed=True).requeued_failed == 0


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
