"""Leases: several processes share one send's rows, and a row in flight is never posted twice.

A process that claims a batch writes its own id (:func:`new_owner`) and an expiry
into the rows (``deliveries.lease_owner``, ``lease_expires_at``) in the same update
that marks them ``sending``. While the provider call runs, a :class:`Heartbeat`
pushes the expiry forward every third of ``[database] lease_seconds``. Then:

- every write about the batch afterwards (recorded, queued again, unknown, one
  more try) is conditional on the lease still being the writer's
  (:func:`newsletter.send.ledger.held_by`): a worker that lost its batch to
  another cannot undo what the other decided;
- only a row whose lease has expired (or that has no lease: written before
  leases existed) is recovered by another process — as a crash is: re-sent under
  the same idempotency key when the provider has one, ``unknown`` otherwise
  (:func:`newsletter.send.recovery.take_over_expired`);
- a graceful stop expires (:func:`release`) the leases of batches still in the
  process's hands, so another worker takes them over at once.

On PostgreSQL claims lock with ``FOR UPDATE SKIP LOCKED`` (two workers never
wait for, nor take, the same rows) and expiries are read from the database's
clock, so that the clocks of several machines need not agree. On SQLite one
process sends an issue at a time (the per-issue lock, :mod:`newsletter.send.lock`):
there, every row in flight that the lock holder finds is abandoned.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from datetime import timedelta

from sqlalchemy import Connection, DateTime, Engine, and_, func, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from newsletter.send.ledger import utcnow
from newsletter.store.schema import deliveries, send_slots

log = logging.getLogger(__name__)

DEFAULT_SECONDS = 60


def new_owner() -> str:
    """A process's lease id: host, pid and a random part (a pid is reused, this id never)."""
    host = socket.gethostname()[:32] or "host"
    return f"{host}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def shared(db: Engine | Connection) -> bool:
    """Whether several processes may share a send here: PostgreSQL yes, SQLite no."""
    return db.dialect.name == "postgresql"


def db_now(conn: Connection) -> object:
    """The current time as the database tells it (PostgreSQL), or this machine's (SQLite)."""
    if shared(conn):
        return func.clock_timestamp(type_=DateTime(timezone=True))
    return utcnow()


def db_after(conn: Connection, seconds: float) -> object:
    """``seconds`` after :func:`db_now`: a lease's expiry."""
    if shared(conn):
        return func.clock_timestamp(type_=DateTime(timezone=True)) + timedelta(seconds=seconds)
    return utcnow() + timedelta(seconds=seconds)


def expired(conn: Connection) -> ColumnElement[bool]:
    """Rows in flight whose lease is over (or that never had one): free to be recovered."""
    now = db_now(conn)
    return (
        deliveries.c.lease_owner.is_(None)
        | deliveries.c.lease_expires_at.is_(None)
        | (deliveries.c.lease_expires_at <= now)
    )


def adopt(conn: Connection, batch_key: str, owner: str | None, seconds: float) -> None:
    """The rows in flight of ``batch_key`` are ``owner``'s now, for ``seconds`` (a batch taken over)."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.batch_key == batch_key, deliveries.c.state == "sending")
        .values(lease_owner=owner, lease_expires_at=db_after(conn, seconds))
    )


def _in_flight(owner: str, send_id: int) -> ColumnElement[bool]:
    """The rows of ``send_id`` that ``owner`` holds in flight."""
    return and_(
        deliveries.c.send_id == send_id, deliveries.c.state == "sending", deliveries.c.lease_owner == owner
    )


def renew(conn: Connection, owner: str, send_id: int, seconds: float) -> int:
    """Push the expiry of ``owner``'s rows in flight (and its request slots) ``seconds`` ahead."""
    until = db_after(conn, seconds)
    renewed = conn.execute(
        update(deliveries).where(_in_flight(owner, send_id)).values(lease_expires_at=until)
    ).rowcount
    conn.execute(update(send_slots).where(send_slots.c.holder == owner).values(expires_at=until))
    return int(renewed or 0)


def release(db: Engine, owner: str, send_id: int) -> int:
    """A graceful stop: ``owner``'s leases end now, so another process recovers its rows at once."""
    with db.begin() as conn:
        now = db_now(conn)
        released = conn.execute(
            update(deliveries).where(_in_flight(owner, send_id)).values(lease_expires_at=now)
        ).rowcount
        conn.execute(
            update(send_slots).where(send_slots.c.holder == owner).values(holder=None, expires_at=None)
        )
    return int(released or 0)


class Heartbeat:
    """Renews one process's leases on one send every third of ``seconds``, in a thread of its own.

    A renewal that fails (the database away for a moment) is tried again at the next beat; the
    lease lasts three beats, so one failure costs nothing.
    """

    def __init__(self, db: Engine, owner: str, send_id: int, seconds: float) -> None:
        self.db = db
        self.owner = owner
        self.send_id = send_id
        self.seconds = seconds
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stopped.wait(self.seconds / 3):
            try:
                with self.db.begin() as conn:
                    renew(conn, self.owner, self.send_id, self.seconds)
            except SQLAlchemyError as exc:
                log.warning("lease renewal failed, trying again in %.0f s: %s", self.seconds / 3, exc)
