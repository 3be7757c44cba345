"""Planning, claiming and recording on real SQLite and PostgreSQL databases."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, select, update

from newsletter.providers.base import Outcome, RecipientResult
from newsletter.send import ledger
from newsletter.send.plan import count_audience, find_list_id, get_send, plan
from newsletter.send.recovery import prepare_resume
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, subscribers, suppressions
from newsletter.store.subscribers import mark_bounced, suppress, unsubscribe
from tests.send.fakes import FakeProvider
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2026-01-05-test-issue"


def _plan(db: Engine, list_name: str = "erhverv") -> ledger.SendRow:
    with db.begin() as conn:
        list_id = find_list_id(conn, list_name)
        plan(conn, issue=ISSUE, list_id=list_id, subject="Emne", provider="postmark")
        send = get_send(conn, ISSUE, list_id)
    assert send is not None
    return send


def _states(db: Engine) -> dict[str, str]:
    with db.connect() as conn:
        rows = conn.execute(
            select(subscribers.c.email, deliveries.c.state).join(
                subscribers, subscribers.c.id == deliveries.c.subscriber_id
            )
        )
        return {email: state for email, state in rows}


def _subscriber_id(db: Engine, email: str) -> int:
    with db.connect() as conn:
        return int(conn.execute(select(subscribers.c.id).where(subscribers.c.email == email)).scalar_one())


def test_plan_is_idempotent_and_nobody_gets_an_issue_twice_across_lists(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(5)
    subscribe_many(db, people[:3], "erhverv")
    subscribe_many(db, people[2:], "borger")  # people[2] is on both lists

    first = _plan(db, "erhverv")
    again = _plan(db, "erhverv")
    assert first.id == again.id
    with db.begin() as conn:
        _, added_for_second_list = plan(
            conn, issue=ISSUE, list_id=find_list_id(conn, "borger"), subject="Emne", provider="postmark"
        )
    assert added_for_second_list == 2  # people[3], people[4]: people[2] already has the issue
    with db.connect() as conn:
        hashes = conn.execute(select(deliveries.c.email_hash)).scalars().all()
    assert len(hashes) == 5 == len(set(hashes))

    subscribe_many(db, ["late@example.com"], "erhverv")
    with db.begin() as conn:
        _, added = plan(
            conn, issue=ISSUE, list_id=find_list_id(conn, "erhverv"), subject="Emne", provider="postmark"
        )
    assert added == 1


def test_plan_leaves_out_unsubscribed_bounced_and_suppressed(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(4)
    list_id = subscribe_many(db, people)
    with db.begin() as conn:
        unsubscribe(conn, _subscriber_id(db, people[0]), list_id, source="cli")
        mark_bounced(conn, _subscriber_id(db, people[1]), "550 no such user")
        suppress(conn, people[2], "manual", "asked by phone")
        audience = count_audience(conn, ISSUE, list_id)
    assert (audience.mailable, audience.already_planned) == (1, 0)
    _plan(db)
    assert _states(db) == {people[3]: "queued"}


def test_the_dry_run_counts_who_already_has_the_issue_from_another_list(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(6)
    subscribe_many(db, people[:4], "erhverv")
    borger = subscribe_many(db, people[2:], "borger")  # people[2] and [3] are on both lists
    with db.begin() as conn:
        mark_bounced(conn, _subscriber_id(db, people[5]), "550 no such user")
        before = count_audience(conn, ISSUE, borger)
    _plan(db, "erhverv")
    with db.connect() as conn:
        after = count_audience(conn, ISSUE, borger)
        other_issue = count_audience(conn, "2026-02-02-another-issue", borger)
    assert (before.mailable, before.already_planned, before.new) == (3, 0, 3)
    assert (after.mailable, after.already_planned, after.new) == (3, 2, 1)
    assert (other_issue.mailable, other_issue.already_planned) == (3, 0)


def test_claim_skips_people_who_left_after_planning(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(4)
    list_id = subscribe_many(db, people)
    send = _plan(db)
    with db.begin() as conn:
        unsubscribe(conn, _subscriber_id(db, people[0]), list_id, source="one-click")
        suppress(conn, people[1], "complained", "spam report")
    with db.begin() as conn:
        claim = ledger.claim(conn, send, 10)
    assert claim is not None
    assert [row.email for row in claim.rows] == people[2:]
    assert all(row.attempts == 1 for row in claim.rows)
    assert claim.skipped == 2
    assert _states(db) == {
        people[0]: "skipped",
        people[1]: "skipped",
        people[2]: "sending",
        people[3]: "sending",
    }
    with db.connect() as conn:
        errors = dict(conn.execute(select(deliveries.c.id, deliveries.c.error)).all())
    assert any("unsubscribed" in (e or "") for e in errors.values())
    assert any("suppressed (complained)" in (e or "") for e in errors.values())


def test_record_sets_sent_failed_retry_and_suppresses_inactive_addresses(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(4)
    subscribe_many(db, people)
    send = _plan(db)
    with db.begin() as conn:
        claim = ledger.claim(conn, send, 10)
    assert claim is not None
    results = [
        RecipientResult(Outcome.ACCEPTED, message_id="m-1"),
        RecipientResult(Outcome.REJECTED, reason="406 inactive recipient", suppress=True),
        RecipientResult(Outcome.REJECTED, reason="300 invalid email"),
        RecipientResult(Outcome.RETRY, reason="mailbox busy", retry_after=3),
    ]
    with db.begin() as conn:
        recorded = ledger.record(conn, claim.batch_key, claim.rows, results, max_attempts=2)
    assert (recorded.sent, recorded.failed, recorded.requeued, recorded.suppressed) == (1, 2, 1, 1)
    assert recorded.retry_after == 3
    assert _states(db) == {people[0]: "sent", people[1]: "failed", people[2]: "failed", people[3]: "queued"}
    with db.connect() as conn:
        assert conn.execute(select(func_count()).select_from(suppressions)).scalar_one() == 1
        message_id = conn.execute(
            select(deliveries.c.message_id).where(deliveries.c.state == "sent")
        ).scalar()
    assert message_id == "m-1"

    # The retried row gives up after max_attempts.
    with db.begin() as conn:
        second = ledger.claim(conn, send, 10)
    assert second is not None and [r.email for r in second.rows] == [people[3]]
    with db.begin() as conn:
        ledger.record(
            conn,
            second.batch_key,
            second.rows,
            [RecipientResult(Outcome.RETRY, reason="busy")],
            max_attempts=2,
        )
    assert _states(db)[people[3]] == "failed"


def func_count():  # type: ignore[no-untyped-def]
    from sqlalchemy import func

    return func.count()


def test_interrupted_rows_become_unknown_without_idempotency(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(3)
    subscribe_many(db, people)
    send = _plan(db)
    with db.begin() as conn:
        ledger.claim(conn, send, 2)  # a crash right after: two rows left "sending"
    recovery = prepare_resume(db, send, FakeProvider(name="postmark", idempotent=False))
    assert recovery.marked_unknown == 2 and not recovery.resend
    assert sorted(_states(db).values()) == ["queued", "unknown", "unknown"]

    recovery = prepare_resume(db, send, FakeProvider(name="postmark"), resend_unknown=True)
    assert recovery.requeued_unknown == 2
    assert set(_states(db).values()) == {"queued"}


def test_interrupted_batches_are_resent_under_their_key_when_idempotent(database_url: str) -> None:
    db = open_engine(database_url)
    subscribe_many(db, addresses(5))
    send = _plan(db)
    with db.begin() as conn:
        first = ledger.claim(conn, send, 2)
        second = ledger.claim(conn, send, 2)
    assert first and second
    resend_provider = FakeProvider(name="postmark", idempotent=True)
    recovery = prepare_resume(db, send, resend_provider)
    assert [b.batch_key for b in recovery.resend] == [first.batch_key, second.batch_key]
    assert [[r.delivery_id for r in b.rows] for b in recovery.resend] == [
        [r.delivery_id for r in first.rows],
        [r.delivery_id for r in second.rows],
    ]

    # Past the provider's idempotency window the key no longer protects: unknown instead.
    with db.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.batch_key == first.batch_key)
            .values(updated_at=ledger.utcnow() - timedelta(hours=25))
        )
    recovery = prepare_resume(db, send, FakeProvider(name="resend", idempotent=True))
    # Claimed by "postmark", resumed with "resend": a different provider's key means nothing.
    assert recovery.resend == [] and recovery.marked_unknown == 4


def test_retry_failed_requeues_all_but_suppressed(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(2)
    subscribe_many(db, people)
    send = _plan(db)
    with db.begin() as conn:
        claim = ledger.claim(conn, send, 10)
        assert claim is not None
        ledger.record(
            conn,
            claim.batch_key,
            claim.rows,
            [
                RecipientResult(Outcome.REJECTED, reason="inactive", suppress=True),
                RecipientResult(Outcome.REJECTED, reason="message too large"),
            ],
            max_attempts=5,
        )
    recovery = prepare_resume(db, send, FakeProvider(), retry_failed=True)
    assert recovery.requeued_failed == 1
    assert _states(db) == {people[0]: "failed", people[1]: "queued"}


def test_a_retry_delay_is_kept_in_the_ledger_and_claim_honours_it(database_url: str) -> None:
    db = open_engine(database_url)
    people = addresses(2)
    subscribe_many(db, people)
    send = _plan(db)
    now = ledger.utcnow()
    with db.begin() as conn:
        claim = ledger.claim(conn, send, 10, now=now)
    assert claim is not None
    results = [
        RecipientResult(Outcome.ACCEPTED, message_id="m-1"),
        RecipientResult(Outcome.RETRY, reason="HTTP 429", retry_after=600),
    ]
    with db.begin() as conn:
        ledger.record(
            conn,
            claim.batch_key,
            claim.rows,
            results,
            max_attempts=5,
            retry_delay=lambda row, result: result.retry_after or 0.0,
            now=now,
        )
    # A new connection (as after a restart) still knows the row must wait ten minutes.
    db.dispose()
    with db.begin() as conn:
        assert ledger.claim(conn, send, 10, now=now + timedelta(seconds=599)) is None
        assert ledger.next_due(conn, send.id) == now + timedelta(seconds=600)
        waiting = ledger.waiting_for_retry(conn, send.id, now)
        assert (waiting.count, waiting.until) == (1, now + timedelta(seconds=600))
        due = ledger.claim(conn, send, 10, now=now + timedelta(seconds=601))
    assert due is not None and [row.email for row in due.rows] == [people[1]]
    with db.connect() as conn:
        assert conn.execute(select(deliveries.c.not_before).where(deliveries.c.state == "sending")).all() == [
            (None,)
        ]
        assert ledger.next_due(conn, send.id) is None


def test_a_backed_off_batch_waits_in_the_ledger_and_retry_failed_clears_it(database_url: str) -> None:
    db = open_engine(database_url)
    subscribe_many(db, addresses(3))
    send = _plan(db)
    now = ledger.utcnow()
    with db.begin() as conn:
        claim = ledger.claim(conn, send, 10, now=now)
        assert claim is not None
        ledger.requeue_batch(conn, claim.batch_key, "HTTP 503", not_before=now + timedelta(seconds=30))
    with db.begin() as conn:
        assert ledger.claim(conn, send, 10, now=now + timedelta(seconds=29)) is None
        assert ledger.waiting_for_retry(conn, send.id, now).count == 3
        again = ledger.claim(conn, send, 10, now=now + timedelta(seconds=31))
        assert again is not None and len(again.rows) == 3
        ledger.record(
            conn,
            again.batch_key,
            again.rows,
            [RecipientResult(Outcome.RETRY, reason="busy")] * 3,
            max_attempts=5,
            retry_delay=lambda row, result: 3600.0,
            now=now,
        )
        conn.execute(update(deliveries).values(state="failed"))
        assert ledger.requeue_failed(conn, send.id) == 3
        # --retry-failed is the user's say-so: no leftover delay.
        assert ledger.waiting_for_retry(conn, send.id, now).count == 0
