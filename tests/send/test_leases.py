"""Leases on rows in flight, on real SQLite and PostgreSQL (issue 14).

- PostgreSQL: a live worker's batch is never recovered; one whose lease expired is, by
  whoever looks first, whole; a heartbeat keeps a slow batch's lease alive; a graceful
  stop hands the batches in hand over at once.
- A worker whose batch was taken over cannot write about it any more.
- SQLite: the holder of the issue's lock recovers every row in flight (nobody else can send it).
- Two claims at the same time (SKIP LOCKED) never take the same row.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, select, update

from newsletter.providers.base import Outcome, RecipientResult
from newsletter.send import lease, ledger
from newsletter.send.plan import find_list_id, get_send, plan
from newsletter.send.recovery import prepare_resume, take_over_expired
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries
from tests.send.fakes import FakeProvider
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2026-01-05-test-issue"


def _plan(db: Engine, people: int = 6) -> ledger.SendRow:
    subscribe_many(db, addresses(people))
    with db.begin() as conn:
        list_id = find_list_id(conn, "erhverv")
        plan(conn, issue=ISSUE, list_id=list_id, subject="Emne", provider="postmark")
        send = get_send(conn, ISSUE, list_id)
    assert send is not None
    return send


def _claim(db: Engine, send: ledger.SendRow, owner: str, seconds: float, size: int = 2) -> ledger.Claim:
    with db.begin() as conn:
        claim = ledger.claim(
            conn,
            send,
            size,
            owner=owner,
            lease_until=lease.db_after(conn, seconds),
            skip_locked=lease.shared(conn),
        )
    assert claim is not None
    return claim


def _leases(db: Engine) -> dict[str, str | None]:
    with db.connect() as conn:
        rows = conn.execute(select(deliveries.c.batch_key, deliveries.c.lease_owner, deliveries.c.state))
        return {f"{row.batch_key}:{row.state}": row.lease_owner for row in rows if row.state == "sending"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_live_lease_is_left_alone_and_an_expired_one_is_taken_over_whole(database_url: str) -> None:
    db = open_engine(database_url)
    send = _plan(db)
    alive, dead = lease.new_owner(), lease.new_owner()
    live_batch = _claim(db, send, alive, 60)
    dead_batch = _claim(db, send, dead, 1)
    provider = FakeProvider(name="postmark", idempotent=True)
    me = lease.new_owner()
    assert take_over_expired(db, send, provider, me, 60).resend == []  # nothing expired yet
    time.sleep(1.2)
    recovery = prepare_resume(db, send, provider, owner=me, lease_seconds=60)
    assert [b.batch_key for b in recovery.resend] == [dead_batch.batch_key]
    assert len(recovery.resend[0].rows) == 2
    owners = _leases(db)
    assert owners[f"{live_batch.batch_key}:sending"] == alive  # a live worker's batch: untouched
    assert owners[f"{dead_batch.batch_key}:sending"] == me

    # Not idempotent: an expired batch (here: mine, expired) becomes unknown, a live one stays.
    with db.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.batch_key == dead_batch.batch_key)
            .values(lease_expires_at=ledger.utcnow() - timedelta(seconds=1))
        )
    recovery = take_over_expired(db, send, FakeProvider(name="postmark"), lease.new_owner(), 60)
    assert recovery.marked_unknown == 2 and recovery.resend == []
    with db.connect() as conn:
        assert ledger.counts_by_state(conn, send.id)["sending"] == 2  # the live batch


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_heartbeat_keeps_a_slow_batch_and_a_graceful_stop_hands_it_over(database_url: str) -> None:
    db = open_engine(database_url)
    send = _plan(db)
    slow = lease.new_owner()
    batch = _claim(db, send, slow, 1.5)
    provider = FakeProvider(name="postmark", idempotent=True)
    with lease.Heartbeat(db, slow, send.id, 1.5):
        time.sleep(2.5)  # longer than the lease: only the heartbeat keeps it
        assert take_over_expired(db, send, provider, lease.new_owner(), 60).resend == []
    assert lease.release(db, slow, send.id) == 2
    taken = take_over_expired(db, send, provider, lease.new_owner(), 60)
    assert [b.batch_key for b in taken.resend] == [batch.batch_key]


def test_a_worker_whose_batch_was_taken_over_cannot_write_about_it(database_url: str) -> None:
    db = open_engine(database_url)
    send = _plan(db)
    first = lease.new_owner()
    batch = _claim(db, send, first, 60)
    second = lease.new_owner()
    with db.begin() as conn:
        lease.adopt(conn, batch.batch_key, second, 60)  # the first one's lease had expired
    accepted = [RecipientResult(Outcome.ACCEPTED, message_id="m") for _ in batch.rows]
    with db.begin() as conn:
        late = ledger.record(conn, batch.batch_key, batch.rows, accepted, max_attempts=5, owner=first)
        assert ledger.requeue_batch(conn, batch.batch_key, "not sent", owner=first) == 0
        assert ledger.mark_batch_unknown(conn, batch.batch_key, "lost", owner=first) == 0
    assert late.sent == 2  # counted as written, but nothing changed:
    with db.connect() as conn:
        assert ledger.counts_by_state(conn, send.id)["sending"] == 2
    with db.begin() as conn:
        assert (
            ledger.record(conn, batch.batch_key, batch.rows, accepted, max_attempts=5, owner=second).sent == 2
        )
    with db.connect() as conn:
        assert ledger.counts_by_state(conn, send.id)["sent"] == 2


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_the_lock_holder_recovers_every_row_in_flight(database_url: str) -> None:
    db = open_engine(database_url)
    send = _plan(db)
    _claim(db, send, lease.new_owner(), 3600)  # a killed run's lease, still "live"
    recovery = prepare_resume(db, send, FakeProvider(name="postmark"), owner=lease.new_owner())
    assert recovery.marked_unknown == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_claims_at_the_same_time_never_take_the_same_row(database_url: str) -> None:
    db = open_engine(database_url)
    send = _plan(db, people=200)
    taken: list[int] = []
    guard = threading.Lock()

    def claim_all() -> None:
        owner = lease.new_owner()
        while True:
            with db.begin() as conn:
                claim = ledger.claim(
                    conn, send, 7, owner=owner, lease_until=lease.db_after(conn, 60), skip_locked=True
                )
            if claim is None:
                return
            with guard:
                taken.extend(row.delivery_id for row in claim.rows)

    threads = [threading.Thread(target=claim_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 200 and len(set(taken)) == 200
