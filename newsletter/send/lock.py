"""One running send per issue: a second ``newsletter send`` of the same issue is refused.

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
    database = db.url.database
    if db.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    safe = hashlib.sha256(issue.encode()).hexdigest()[:16]
    path = Path(f"{database}.send-{safe}.lock")
    handle = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _busy(issue) from None
        yield
    finally:
        os.close(handle)


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
