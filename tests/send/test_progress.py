"""What the live progress view reads: counts, rate, time left and retries from the ledger; the lock."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update

from newsletter.config import Settings
from newsletter.errors import NotFound, SendBusy
from newsletter.send import ledger
from newsletter.send.lock import is_locked, send_lock
from newsletter.send.plan import find_list_id, plan
from newsletter.send.report import duration_parts, send_command_line, send_progress
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2026-01-05-test-issue"


def _planned(settings: Settings, people: int) -> int:
    db = open_engine(settings.database_url)
    subscribe_many(db, addresses(people))
    with db.begin() as conn:
        send_id, _ = plan(
            conn, issue=ISSUE, list_id=find_list_id(conn, "erhverv"), subject="Nyt", provider="outbox"
        )
    return send_id


def _settle(settings: Settings, count: int, state: str, seconds_ago: float) -> None:
    """The first ``count`` queued rows become ``state``, recorded ``seconds_ago``."""
    db = open_engine(settings.database_url)
    moment = ledger.utcnow() - timedelta(seconds=seconds_ago)
    with db.begin() as conn:
        ids = (
            conn.execute(
                deliveries.select()
                .with_only_columns(deliveries.c.id)
                .where(deliveries.c.state == "queued")
                .order_by(deliveries.c.id)
                .limit(count)
            )
            .scalars()
            .all()
        )
        conn.execute(
            update(deliveries).where(deliveries.c.id.in_(ids)).values(state=state, updated_at=moment)
        )


def test_progress_counts_each_state_and_measures_the_recent_rate(settings: Settings) -> None:
    _planned(settings, 100)
    _settle(settings, 10, "sent", seconds_ago=300)  # long before the window: not in the rate
    _settle(settings, 30, "sent", seconds_ago=10)
    _settle(settings, 10, "failed", seconds_ago=5)
    _settle(settings, 5, "sending", seconds_ago=1)
    progress = send_progress(open_engine(settings.database_url), ISSUE, "erhverv")
    assert progress.counts == {
        "queued": 45,
        "sending": 5,
        "sent": 40,
        "failed": 10,
        "skipped": 0,
        "unknown": 0,
    }
    assert (progress.total, progress.settled, progress.remaining) == (100, 50, 50)
    assert progress.status == "planned" and progress.subject == "Nyt" and progress.list_name == "erhverv"
    # 40 rows settled in the last ten seconds (or a little more, as the test ran): about 4 a second.
    assert progress.rate is not None and 3.5 < progress.rate <= 4.0
    assert progress.seconds_left is not None and 12 <= progress.seconds_left <= 15


def test_progress_without_recent_activity_has_no_rate_nor_time_left(settings: Settings) -> None:
    _planned(settings, 10)
    progress = send_progress(open_engine(settings.database_url), ISSUE, "erhverv")
    assert (progress.rate, progress.seconds_left, progress.remaining) == (None, None, 10)
    _settle(settings, 10, "sent", seconds_ago=120)
    done = send_progress(open_engine(settings.database_url), ISSUE, "erhverv")
    assert (done.rate, done.seconds_left, done.settled) == (None, 0.0, 10)


def test_a_send_with_nothing_left_has_no_rate_even_just_after_its_last_batch(settings: Settings) -> None:
    _planned(settings, 10)
    _settle(settings, 10, "sent", seconds_ago=3)
    done = send_progress(open_engine(settings.database_url), ISSUE, "erhverv")
    assert (done.rate, done.seconds_left, done.settled, done.remaining) == (None, 0.0, 10, 0)


def test_a_first_batch_recorded_at_once_does_not_make_an_absurd_rate(settings: Settings) -> None:
    _planned(settings, 100)
    _settle(settings, 50, "sent", seconds_ago=0)
    progress = send_progress(open_engine(settings.database_url), ISSUE, "erhverv")
    assert progress.rate == pytest.approx(25.0, rel=0.05)  # 50 over the shortest span of two seconds


def test_progress_of_a_send_never_started_says_how_to_start_it(settings: Settings) -> None:
    subscribe_many(open_engine(settings.database_url), addresses(1))
    with pytest.raises(NotFound, match=f"start with: newsletter send {ISSUE} --list erhverv"):
        send_progress(open_engine(settings.database_url), ISSUE, "erhverv")


def test_command_lines_and_durations_for_people() -> None:
    assert send_command_line(ISSUE, "erhverv", "--retry-failed") == (
        f"newsletter send {ISSUE} --list erhverv --retry-failed"
    )
    assert duration_parts(0.2) == (1, "s")
    assert duration_parts(59) == (59, "s")
    assert duration_parts(150) == (2, "min")  # 2.5 rounds to even, as the CLI always printed it
    assert duration_parts(5400) == (1.5, "h")


def test_is_locked_sees_a_run_holding_the_lock_and_leaves_it_free(settings: Settings) -> None:
    db = open_engine(settings.database_url)
    assert not is_locked(db, ISSUE)
    with send_lock(db, ISSUE):
        assert is_locked(db, ISSUE)
        assert not is_locked(db, "2026-02-01-another-issue")
        with pytest.raises(SendBusy, match="another 'newsletter send' of"), send_lock(db, ISSUE):
            pass
    assert not is_locked(db, ISSUE)
    with send_lock(db, ISSUE):  # the probe left nothing behind
        pass
