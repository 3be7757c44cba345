"""One running send per issue: a second ``newsletter send`` of the same issue is refused.
On SQLite, also one ``newsletter worker`` per database (:func:`worker_lock`).

Two runs would each treat the other's in-flight rows as left over by a crash.
The lock dies with its process (even under ``kill -9``), so a crash never
leaves a stale lock behind: on PostgreSQL a session advisory lock, on SQLite
an ``flock`` on a file beside the database.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, text

from newsletter.errors import SendBusy


def _busy(issue: str) -> SendBusy:
    return SendBusy(
        f"another 'newsletter send' of {issue} is running on this database — wait for it to finish "
        "(or stop it with Ctrl-C), then run the command again"
    )


@contextmanager
def send_lock(db: Engine, issue: str) -> Iterator[None]:
    if db.dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"newsletter-send:{issue}".encode()).digest()[:8], "big", signed=True
        )
        with db.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                raise _busy(issue)
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
        return
    safe = hashlib.sha256(issue.encode()).hexdigest()[:16]
    with _file_lock(db, f"send-{safe}", _busy(issue)):
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
