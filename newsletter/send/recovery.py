"""What a run does first with what earlier runs left behind.

Rows left ``sending`` were in flight when a run died (crash, ``kill -9``, a
lost connection). Which of them are abandoned: on SQLite, every one the holder of
the issue's send lock finds (one process sends an issue at a time); on
PostgreSQL, where workers share a send, only those whose lease expired
(:mod:`newsletter.send.lease`) — a live worker's batch is never touched. The
first process to see an expired batch takes it over whole (its rows locked with
``SKIP LOCKED``; a batch partly held by another transaction is left for the next
look). The provider may or may not have accepted them:

- with an idempotent provider (an idempotency key per batch: Resend, the
  outbox) they are sent again as the *same* batch under the *same* key, which
  the provider deduplicates — as long as the key's window
  (``Provider.idempotency_window``; Resend: 24 hours) has not passed, and the
  provider is the one that was used;
- otherwise they become ``unknown``: reported, never re-sent unless the user
  says so with ``--resend-unknown`` (and accepts a possible second copy).

``--retry-failed`` puts failed rows back in the queue (suppressed addresses stay failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, Engine, func, select

from newsletter.providers.base import Provider
from newsletter.send import lease, ledger
from newsletter.send.ledger import InterruptedBatch, SendRow
from newsletter.store.schema import deliveries

# Stay clear of the window's edge: the clocks of two machines are never quite equal.
_WINDOW_MARGIN = timedelta(minutes=30)


@dataclass
class Recovery:
    resend: list[InterruptedBatch] = field(default_factory=list)
    marked_unknown: int = 0
    requeued_unknown: int = 0
    requeued_failed: int = 0
    # Queued rows still waiting out a retry delay an earlier run set (a 429's Retry-After, a backoff).
    waiting: ledger.Waiting = field(default_factory=lambda: ledger.Waiting(0, None))


def _safe_to_resend(batch: InterruptedBatch, provider: Provider) -> bool:
    if not provider.idempotent or batch.provider != provider.name or not batch.batch_key:
        return False
    if len(batch.rows) > provider.max_batch:
        return False
    window = provider.idempotency_window
    if window is None:
        return True
    return ledger.utcnow() - batch.claimed_at < window - _WINDOW_MARGIN


def _whole_batches(conn: Connection, batches: list[InterruptedBatch]) -> list[InterruptedBatch]:
    """The batches of which every row in flight was found (and locked): a batch partly held by
    another transaction (its owner recording it, another worker taking it over) is not ours."""
    if not batches:
        return batches
    in_flight: dict[str, int] = dict(
        conn.execute(
            select(deliveries.c.batch_key, func.count())
            .where(
                deliveries.c.batch_key.in_([b.batch_key for b in batches]),
                deliveries.c.state == "sending",
            )
            .group_by(deliveries.c.batch_key)
        ).all()
    )
    return [b for b in batches if in_flight.get(b.batch_key, 0) == len(b.rows)]


def _settle(
    conn: Connection,
    send: SendRow,
    provider: Provider,
    owner: str | None,
    lease_seconds: float,
    *,
    every: bool,
) -> Recovery:
    """Take over the abandoned batches of ``send``: each re-sent by ``owner`` or marked unknown."""
    recovery = Recovery()
    sharing = lease.shared(conn)
    batches = ledger.interrupted_batches(
        conn, send.id, only=None if every else lease.expired(conn), skip_locked=sharing
    )
    if sharing:
        batches = _whole_batches(conn, batches)
    for batch in batches:
        if _safe_to_resend(batch, provider):
            # Ours now: a heartbeat renews it while we post it again; its first owner's writes no
            # longer land (they are conditional on the lease).
            lease.adopt(conn, batch.batch_key, owner, lease_seconds)
            recovery.resend.append(batch)
            continue
        reason = (
            f"interrupted while sending through {batch.provider or 'the provider'} "
            f"(batch {batch.batch_key[:12]}); it may or may not have been delivered — "
            "send it again only with --resend-unknown"
        )
        recovery.marked_unknown += ledger.mark_batch_rows_unknown(
            conn, [row.delivery_id for row in batch.rows], reason
        )
    return recovery


def take_over_expired(
    db: Engine, send: SendRow, provider: Provider, owner: str, lease_seconds: float
) -> Recovery:
    """While sending on PostgreSQL: recover the batches of ``send`` whose lease expired (a worker
    died with them), as a crash is recovered; committed before it returns."""
    with db.begin() as conn:
        return _settle(conn, send, provider, owner, lease_seconds, every=False)


def prepare_resume(
    db: Engine,
    send: SendRow,
    provider: Provider,
    *,
    resend_unknown: bool = False,
    retry_failed: bool = False,
    owner: str | None = None,
    lease_seconds: float = lease.DEFAULT_SECONDS,
) -> Recovery:
    """Settle interrupted rows and apply the user's re-queue flags; committed before sending starts.

    ``owner``: the lease id the run sends under (re-sent batches are leased to it). On SQLite
    (the caller holds the issue's lock) every row in flight is settled; on PostgreSQL only those
    whose lease expired.
    """
    with db.begin() as conn:
        recovery = _settle(conn, send, provider, owner, lease_seconds, every=not lease.shared(conn))
        if resend_unknown:
            recovery.requeued_unknown = ledger.requeue_unknown(conn, send.id)
        if retry_failed:
            recovery.requeued_failed = ledger.requeue_failed(conn, send.id)
        recovery.waiting = ledger.waiting_for_retry(conn, send.id)
    return recovery
