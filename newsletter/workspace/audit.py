"""The audit log: who did what, to what, when and from where — appended to, never changed.

This module has :func:`record` to add an entry and functions to read and
export them; it has no function that changes or deletes one, and the database
refuses UPDATE and DELETE on ``audit_log`` by triggers (revision 0007), on
SQLite and PostgreSQL alike.

An entry names its :class:`Actor` (the user's id and their address at the
time, or ``cli:<os user>`` for the command line), one action of
:data:`AUDIT_ACTIONS`, a subject (an issue slug, a list name, a user's
address, a subscriber's *id* — never a subscriber's address, so that erasing
a person leaves no address behind in a log that cannot be changed), details
as JSON and the client's IP address. Details never hold secrets, tokens or
passwords.

Exports are CSV with every cell made safe for spreadsheets
(:func:`newsletter.safe_text.spreadsheet_cell`): a subject or name typed as
``=HYPERLINK(…)`` reaches the spreadsheet as text, not as a formula.
"""

from __future__ import annotations

import csv
import getpass
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy import Connection, Row, select

from newsletter.safe_text import spreadsheet_cell
from newsletter.store.lists import aware, utcnow
from newsletter.store.schema import audit_log

# Every action an entry can name, with what it means. Pages and commands name these, nothing else.
AUDIT_ACTIONS: dict[str, str] = {
    "user.created": "a user was added",
    "user.role_changed": "a user's role was changed",
    "user.disabled": "a user was disabled (and signed out everywhere)",
    "user.enabled": "a user was enabled again (and unlocked)",
    "user.profile_changed": "a user's name or language was changed",
    "user.password_link": "a one-time set-password link was made",
    "user.password_set": "a user set a new password",
    "user.password_reset": "a user's password was reset (and they were signed out everywhere)",
    "user.totp_enabled": "a user turned on two-factor sign-in",
    "user.totp_removed": "a user's two-factor sign-in was removed",
    "user.locked": "a user was locked out after too many failed sign-ins",
    "login.succeeded": "a user signed in",
    "login.failed": "a sign-in to a user's account failed",
    "logout": "a user signed out",
    "logout.everywhere": "a user was signed out of every session",
    "issue.created": "an issue was created",
    "issue.edited": "a draft of an issue was saved",
    "issue.saved": "an issue file was saved",
    "issue.draft_discarded": "an issue's unsaved draft was thrown away",
    "issue.image_added": "an image was added to an issue's folder",
    "issue.test_sent": "a test copy of an issue was sent",
    "issue.sent": "an issue was sent to a list",
    "issue.scheduled": "a send to a list was scheduled",
    "issue.schedule_cancelled": "a scheduled send to a list was called off before it went out",
    "issue.approval_requested": "a send to a list was put up for a second sender's approval (four-eyes)",
    "issue.approved": "a send to a list was approved",
    "list.created": "a list was created",
    "list.changed": "a list was changed",
    "list.deleted": "a list was deleted",
    "subscriber.added": "a subscriber was added",
    "subscriber.unsubscribed": "a subscriber was unsubscribed",
    "subscriber.erased": "a subscriber was erased (GDPR)",
    "subscriber.data_exported": "a subscriber's data was exported (GDPR access)",
    "subscribers.imported": "subscribers were imported",
    "subscribers.exported": "subscribers were exported",
    "audit.exported": "the audit log was exported",
}

CSV_HEADER = ("id", "at (UTC)", "user id", "actor", "action", "subject", "detail", "ip")
_SUBJECT_MAX = 200


@dataclass(frozen=True)
class Actor:
    """Who does something: a workspace user (id and address) or the command line."""

    user_id: int | None
    label: str
    ip: str | None = None

    @classmethod
    def cli(cls) -> Actor:
        """The command line, with the operating-system user running it when that can be known."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):
            return cls(None, "cli")
        return cls(None, f"cli:{who}")


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    user_id: int | None
    actor: str
    action: str
    subject: str
    detail: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None


def _entry(row: Row) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=aware(row.at),
        user_id=row.user_id,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        detail=dict(row.detail or {}),
        ip=row.ip,
    )


def record(
    conn: Connection,
    actor: Actor,
    action: str,
    subject: str = "",
    detail: dict[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> AuditEntry:
    """Append one entry. An action outside :data:`AUDIT_ACTIONS` is a programming mistake: ValueError."""
    if action not in AUDIT_ACTIONS:
        raise ValueError(f"unknown audit action {action!r} — add it to AUDIT_ACTIONS with its meaning")
    values: dict[str, Any] = {
        "at": now or utcnow(),
        "user_id": actor.user_id,
        "actor": actor.label[:320],
        "action": action,
        "subject": subject[:_SUBJECT_MAX],
        "detail": dict(detail or {}),
        "ip": actor.ip[:64] if actor.ip else None,
    }
    new_id = conn.execute(audit_log.insert().values(**values).returning(audit_log.c.id)).scalar_one()
    return AuditEntry(id=new_id, **values)


def recent_entries(
    conn: Connection,
    *,
    limit: int = 100,
    before_id: int | None = None,
    user_id: int | None = None,
    action: str | None = None,
) -> list[AuditEntry]:
    """Newest first, at most ``limit``; ``before_id`` pages back (pass the last id shown)."""
    query = select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    if before_id is not None:
        query = query.where(audit_log.c.id < before_id)
    if user_id is not None:
        query = query.where(audit_log.c.user_id == user_id)
    if action is not None:
        query = query.where(audit_log.c.action == action)
    return [_entry(row) for row in conn.execute(query)]


def iter_entries(
    conn: Connection, *, since: datetime | None = None, until: datetime | None = None
) -> Iterator[AuditEntry]:
    """Every entry from ``since`` (inclusive) to ``until`` (exclusive), oldest first, streamed."""
    query = select(audit_log).order_by(audit_log.c.id).execution_options(yield_per=1000)
    if since is not None:
        query = query.where(audit_log.c.at >= since)
    if until is not None:
        query = query.where(audit_log.c.at < until)
    for row in conn.execute(query):
        yield _entry(row)


def csv_cells(entry: AuditEntry) -> list[str]:
    """One entry as the text of :data:`CSV_HEADER`'s columns (before spreadsheet escaping)."""
    return [
        str(entry.id),
        entry.at.strftime("%Y-%m-%d %H:%M:%S"),
        "" if entry.user_id is None else str(entry.user_id),
        entry.actor,
        entry.action,
        entry.subject,
        json.dumps(entry.detail, ensure_ascii=False, sort_keys=True) if entry.detail else "",
        entry.ip or "",
    ]


def write_csv(entries: Iterable[AuditEntry], handle: IO[str], *, delimiter: str = ",") -> int:
    """Write a header and ``entries`` as spreadsheet-safe CSV to ``handle``; returns how many entries.

    ``delimiter=";"`` (with a handle opened as ``utf-8-sig``) is what Danish Excel opens directly.
    """
    writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
    writer.writerow([spreadsheet_cell(cell) for cell in CSV_HEADER])
    count = 0
    for entry in entries:
        writer.writerow([spreadsheet_cell(cell) for cell in csv_cells(entry)])
        count += 1
    return count
