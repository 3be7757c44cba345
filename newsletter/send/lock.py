"""Who may send an issue at the same time, and one ``newsletter worker`` per SQLite database.

- SQLite: one running send per issue — a second ``newsletter send`` (or a worker)
  of the same issue is refused politely; the lock holder may then treat every
  row in flight as left over by a crash. An ``flock`` on a file beside the database.
- PostgreSQL: runs of one issue share it (``shared=True``: a shared advisory lock)
  — workers and ``newsletter send`` claim its rows with ``SKIP LOCKED`` and leases
  (:mod:`newsletter.send.lease`); what takes the lock alone (scheduling the
  issue, :func:`is_locked`'s look) waits for none of them and is refused while
  one runs.

The lock dies with its process (even under ``kill -9``), so a crash never
leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, text

from newsletter.errors import SendBusy


def _busy(issue: str, sqlite: bool) -> SendBusy:
    alone = (
        " (with SQLite one process sends an issue at a time; PostgreSQL lets several share it)"
        if sqlite
        else ""
    )
    return SendBusy(
        f"another 'newsletter send' of {issue} is running on this database{alone} — wait for it to "
        "finish (or stop it with Ctrl-C), then run the command again"
    )


def _held_alone(issue: str) -> SendBusy:
    return SendBusy(
        f"{issue} is being scheduled or changed by another process right now — run the command again "
        "in a moment"
    )


_SHARED_TRIES = 30  # × 0.1 s


def _issue_key(issue: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"newsletter-send:{issue}".encode()).digest()[:8], "big", signed=True
    )


@contextmanager
def send_lock(db: Engine, issue: str, *, shared: bool = False) -> Iterator[None]:
    """Hold ``issue``'s lock while sending (``shared``: alongside other senders, PostgreSQL only)."""
    if db.dialect.name == "postgresql":
        key = _issue_key(issue)
        take, give = (
            ("pg_try_advisory_lock_shared", "pg_advisory_unlock_shared")
            if shared
            else ("pg_try_advisory_lock", "pg_advisory_unlock")
        )
        with db.connect() as conn:
            # Shared: refused only while something holds it alone — scheduling the issue or
            # is_locked's look, each for an instant — so try again for a moment first.
            for _ in range(_SHARED_TRIES if shared else 1):
                if conn.execute(text(f"SELECT {take}(:key)"), {"key": key}).scalar():
                    break
                time.sleep(0.1)
            else:
                conn.commit()
                raise _busy(issue, sqlite=False) if not shared else _held_alone(issue)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text(f"SELECT {give}(:key)"), {"key": key})
                conn.commit()
        return
    safe = hashlib.sha256(issue.encode()).hexdigest()[:16]
    with _file_lock(db, f"send-{safe}", _busy(issue, sqlite=True)):
        yield


def _sqlite_file(db: Engine) -> str | None:
    """The SQLite database file of ``db``; None for PostgreSQL and an in-memory database."""
    database = db.url.database
    if db.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return database


@contextmanager
def _file_lock(db: Engine, name: str, busy: SendBusy) -> Iterator[None]:
    """An ``flock`` on ``<database>.<name>.lock`` beside a SQLite file; ``busy`` when it is taken."""
    database = _sqlite_file(db)
    if database is None:
        yield
        return
    handle = os.open(Path(f"{database}.{name}.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise busy from None
        yield
    finally:
        os.close(handle)


@contextmanager
def worker_lock(db: Engine) -> Iterator[None]:
    """On SQLite, one ``newsletter worker`` per database; on PostgreSQL several may run.

    SQLite is the embedded default for one machine: one writer at a time, so a second worker
    would only wait for the first. PostgreSQL workers each claim a due send with a conditional
    update, so a scheduled send fires once however many run.
    """
    busy = SendBusy(
        "another 'newsletter worker' is already running on this database — with SQLite one worker "
        "at a time does the sending; stop the other one first (or keep it: it sends everything)"
    )
    with _file_lock(db, "worker", busy):
        yield


def planning_lock(conn: Connection, issue: str) -> None:
    """PostgreSQL: runs sharing ``issue`` plan its rows one at a time (until the transaction ends)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _issue_key(f"plan:{issue}")})


def is_locked(db: Engine, issue: str) -> bool:
    """Whether some run (this process or another) holds ``issue``'s send lock right now.

    It takes the lock for an instant to find out: a run starting in that very instant is refused
    as busy and can simply be started again.
    """
    try:
        with send_lock(db, issue):
            return False
    except SendBusy:
        return True
