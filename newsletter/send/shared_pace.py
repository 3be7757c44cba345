"""The provider's pace shared by every worker on one PostgreSQL: ``messages_per_second`` and
``concurrency`` hold for all of them together, not for each.

- :class:`SharedPacer` — the rate. One ``send_pace`` row per provider holds the
  moment the next message may go (a virtual schedule, as :class:`~newsletter.send.pacing.Pacer`
  keeps in memory): a batch of ``n`` locks the row (``FOR UPDATE``), takes the
  moment ``max(now, next_at)`` as its own and pushes ``next_at`` on by ``n / rate``
  seconds, then waits until its moment outside the transaction. However many
  workers ask, the moments they get are spaced as one process's would be. Times
  are the database's clock, so several machines agree on them.
- :class:`Slots` — the concurrency. ``send_slots`` holds ``concurrency`` rows
  per provider; a worker posts a request only while it holds one (taken with
  ``SKIP LOCKED``, leased like a batch and renewed by the same heartbeat), so
  no more than ``concurrency`` requests are in flight across all workers. A
  crashed worker's slot comes free when its lease expires.

SQLite (one process) keeps the in-memory :class:`~newsletter.send.pacing.Pacer` and the
engine's own thread pool. Redis is not used: PostgreSQL is already shared by every worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import DateTime, Engine, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from newsletter.send.lease import db_after
from newsletter.send.pacing import PaceSchedule
from newsletter.store.schema import send_pace, send_slots

_NOW = func.clock_timestamp(type_=DateTime(timezone=True))


class SharedPacer(PaceSchedule):
    """Hands out permission to send ``n`` messages, at most ``rate`` a second across all workers.

    The same interface as :class:`~newsletter.send.pacing.Pacer`; a provider's "slow down"
    (:meth:`pause_until`) is kept per process (the send's own pause is in the ledger already).
    """

    def __init__(
        self,
        db: Engine,
        provider: str,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.db = db
        self.provider = provider
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._paused_until = 0.0
        self._lock = threading.Lock()
        with db.begin() as conn:
            conn.execute(
                pg_insert(send_pace)
                .values(provider=provider, next_at=_NOW)
                .on_conflict_do_nothing(index_elements=["provider"])
            )

    def pause_until(self, moment: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, moment)

    def delay_for(self, count: int) -> float:
        """Reserve ``count`` messages in the shared schedule; seconds to wait before sending them."""
        with self._lock:
            local = max(0.0, self._paused_until - self.clock())
        if self.rate <= 0:
            return local
        with self.db.begin() as conn:
            next_at, now = conn.execute(
                select(send_pace.c.next_at, _NOW)
                .where(send_pace.c.provider == self.provider)
                .with_for_update()
            ).one()
            start = max(next_at, now + timedelta(seconds=local))
            conn.execute(
                update(send_pace)
                .where(send_pace.c.provider == self.provider)
                .values(next_at=start + timedelta(seconds=count / self.rate))
            )
        return max(local, (start - now).total_seconds())


class Slots:
    """At most ``concurrency`` requests in flight to ``provider`` across every worker."""

    def __init__(self, db: Engine, provider: str, concurrency: int, owner: str, lease_seconds: float) -> None:
        self.db = db
        self.provider = provider
        self.concurrency = concurrency
        self.owner = owner
        self.lease_seconds = lease_seconds
        with db.begin() as conn:
            have = set(
                conn.execute(select(send_slots.c.slot).where(send_slots.c.provider == provider)).scalars()
            )
            missing = [{"provider": provider, "slot": n} for n in range(concurrency) if n not in have]
            if missing:
                conn.execute(
                    pg_insert(send_slots).on_conflict_do_nothing(index_elements=["provider", "slot"]), missing
                )

    def take(self) -> int | None:
        """A free slot, now held by this process; None when all ``concurrency`` are in use."""
        with self.db.begin() as conn:
            free = (
                select(send_slots.c.slot)
                .where(
                    send_slots.c.provider == self.provider,
                    send_slots.c.slot < self.concurrency,
                    send_slots.c.holder.is_(None) | (send_slots.c.expires_at <= _NOW),
                )
                .order_by(send_slots.c.slot)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            slot = conn.execute(free).scalar()
            if slot is None:
                return None
            conn.execute(
                update(send_slots)
                .where(send_slots.c.provider == self.provider, send_slots.c.slot == slot)
                .values(holder=self.owner, expires_at=db_after(conn, self.lease_seconds))
            )
            return int(slot)

    def give_back(self, slot: int) -> None:
        with self.db.begin() as conn:
            conn.execute(
                update(send_slots)
                .where(
                    send_slots.c.provider == self.provider,
                    send_slots.c.slot == slot,
                    send_slots.c.holder == self.owner,
                )
                .values(holder=None, expires_at=None)
            )
