"""What a run does first with what earlier runs left behind.

Rows left ``sending`` were in flight when a run died (crash, ``kill -9``, a
lost connection). The provider may or may not have accepted them:

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

from sqlalchemy import Engine

from newsletter.providers.base import Provider
from newsletter.send import ledger
from newsletter.send.ledger import InterruptedBatch, SendRow

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


def prepare_resume(
    db: Engine,
    send: SendRow,
    provider: Provider,
    *,
    resend_unknown: bool = False,
    retry_failed: bool = False,
) -> Recovery:
    """Settle interrupted rows and apply the user's re-queue flags; committed before sending starts."""
    recovery = Recovery()
    with db.begin() as conn:
        for batch in ledger.interrupted_batches(conn, send.id):
            if _safe_to_resend(batch, provider):
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
        if resend_unknown:
            recovery.requeued_unknown = ledger.requeue_unknown(conn, send.id)
        if retry_failed:
            recovery.requeued_failed = ledger.requeue_failed(conn, send.id)
        recovery.waiting = ledger.waiting_for_retry(conn, send.id)
    return recovery
