"""``newsletter status``: what the ledger says about an issue — counts, failures, unknowns.

Also what the workspace's live progress view reads (:func:`send_progress`:
counts, rate and time left, from the ledger alone, so a reload or another
server process sees the same), and the command lines that resume or repair a
send (:func:`send_command_line`), which the CLI and the workspace both print.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from newsletter.errors import NotFound
from newsletter.send import ledger, snapshot
from newsletter.send.plan import find_list_id, get_send, sends_of_issue
from newsletter.send.schedule import ScheduledSend, schedule_of
from newsletter.store.schema import deliveries, sends, subscribers

# More than this many failures / unknowns are summarised rather than listed in full.
DEFAULT_LISTED = 50
# The rate is measured over the rows settled in this last stretch of time: recent enough to follow
# a send that slows down (a 429), long enough not to jump with every batch.
RATE_WINDOW = timedelta(seconds=30)
# A measured span shorter than this (a first batch recorded at once) would make the rate absurd.
_SHORTEST_SPAN = 2.0
SETTLED = ("sent", "failed", "skipped", "unknown")


def send_command_line(issue: str, list_name: str, *flags: str) -> str:
    """The command line that sends (or resumes) ``issue`` to ``list_name``."""
    return " ".join(["newsletter send", issue, "--list", list_name, *flags])


def duration_parts(seconds: float) -> tuple[float, str]:
    """A duration rounded for people: (number, unit) with unit ``s``, ``min`` or ``h``."""
    if seconds < 60:
        return max(1, round(seconds)), "s"
    if seconds < 3600:
        return round(seconds / 60), "min"
    return round(seconds / 3600, 1), "h"


@dataclass(frozen=True)
class RowProblem:
    delivery_id: int
    email: str  # "(erased)" when the subscriber is gone
    attempts: int
    error: str


@dataclass
class SendStatus:
    issue: str
    list_name: str
    subject: str
    provider: str
    status: str
    counts: dict[str, int]
    failed: list[RowProblem] = field(default_factory=list)
    unknown: list[RowProblem] = field(default_factory=list)
    # Who was left out since planning, and why (unsubscribed, bounced, erased …): only with ``listed=None``.
    skipped: list[RowProblem] = field(default_factory=list)
    # Queued rows waiting out a retry delay, and when the last of them is due.
    waiting: ledger.Waiting = field(default_factory=lambda: ledger.Waiting(0, None))
    # Its time, when it was scheduled (``newsletter send --at``).
    schedule: ScheduledSend | None = None
    # When what it sends was frozen; None for a send planned before sends kept a snapshot.
    planned_at: datetime | None = None
    # The issue now against what was planned (:func:`file_state`); "" when not compared.
    file: str = ""

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def file_state(planned: str | None, current: Callable[[], str | None]) -> str:
    """How the issue now compares with what a send froze: ``same``, ``changed``, ``unreadable``
    (the file is gone or does not render), or "" when the send froze nothing. ``current`` is
    asked only when there is something to compare."""
    if planned is None:
        return ""
    now = current()
    if now is None:
        return "unreadable"
    return "same" if now == planned else "changed"


def _problems(engine: Engine, send_id: int, state: str, limit: int | None) -> list[RowProblem]:
    query = (
        select(deliveries.c.id, subscribers.c.email, deliveries.c.attempts, deliveries.c.error)
        .select_from(ledger.DELIVERY_PERSON)  # the person only while id and address hash agree
        .where(deliveries.c.send_id == send_id, deliveries.c.state == state)
        .order_by(deliveries.c.id)
    )
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [
            RowProblem(row.id, row.email or "(erased)", row.attempts, row.error or "")
            for row in conn.execute(query)
        ]


def issue_status(
    engine: Engine,
    issue: str,
    list_name: str | None = None,
    *,
    listed: int | None = DEFAULT_LISTED,
    current_fingerprint: Callable[[], str | None] | None = None,
) -> list[SendStatus]:
    """One :class:`SendStatus` per list the issue was sent (or planned) to.

    ``current_fingerprint`` renders the issue as it is now, to say whether it changed after a
    send was planned (asked once, and only when a send has a snapshot).
    """
    with engine.connect() as conn:
        if list_name is not None:
            list_id = find_list_id(conn, list_name)
            send = get_send(conn, issue, list_id)
            found = [send] if send else []
        else:
            found = sends_of_issue(conn, issue)
        if not found:
            where = f" to list {list_name!r}" if list_name else ""
            raise NotFound(
                f"{issue} has not been sent{where} yet — start with: newsletter send {issue} --list "
                f"{list_name or 'NAME'}"
            )
        counts = {send.id: ledger.counts_by_state(conn, send.id) for send in found}
        waiting = {send.id: ledger.waiting_for_retry(conn, send.id) for send in found}
        schedules = {send.id: schedule_of(conn, send.id) for send in found}
        frozen = snapshot.fingerprints(conn, [send.id for send in found])
    rendered_now = functools.cache(current_fingerprint) if current_fingerprint is not None else None
    files = {
        send.id: file_state(frozen[send.id][0], rendered_now) if send.id in frozen and rendered_now else ""
        for send in found
    }
    return [
        SendStatus(
            issue=send.issue,
            list_name=send.list_name,
            subject=send.subject,
            provider=send.provider,
            status=send.status,
            counts=counts[send.id],
            failed=_problems(engine, send.id, "failed", listed),
            unknown=_problems(engine, send.id, "unknown", listed),
            skipped=_problems(engine, send.id, "skipped", None) if listed is None else [],
            waiting=waiting[send.id],
            schedule=schedules[send.id],
            planned_at=frozen[send.id][1] if send.id in frozen else None,
            file=files[send.id],
        )
        for send in found
    ]


def status_as_json(statuses: list[SendStatus]) -> dict[str, Any]:
    return {
        "issue": statuses[0].issue if statuses else "",
        "sends": [
            {
                "list": s.list_name,
                "subject": s.subject,
                "provider": s.provider,
                "status": s.status,
                "total": s.total,
                "counts": s.counts,
                "failed": [asdict(p) for p in s.failed],
                "unknown": [asdict(p) for p in s.unknown],
                "skipped": [asdict(p) for p in s.skipped],
                "waiting_for_retry": {
                    "count": s.waiting.count,
                    "until": s.waiting.until.isoformat() if s.waiting.until else None,
                },
                "scheduled_at": s.schedule.at.isoformat() if s.schedule else None,
                "timezone": s.schedule.zone if s.schedule else None,
                "planned_at": s.planned_at.isoformat() if s.planned_at else None,
                "issue_file": s.file or None,
            }
            for s in statuses
        ],
    }


def status_lines(statuses: list[SendStatus]) -> list[str]:
    """Plain lines for the terminal (the CLI adds no logic of its own)."""
    out: list[str] = []
    for s in statuses:
        out.append(f"{s.issue} → list {s.list_name} ({s.provider}, {s.status}): {s.subject}")
        out.append(
            "  " + ", ".join(f"{state} {s.counts[state]}" for state in ledger.STATES) + f"  (total {s.total})"
        )
        out += _schedule_lines(s)
        for title, problems, count in (
            ("failed", s.failed, s.counts["failed"]),
            ("unknown — may or may not have been delivered", s.unknown, s.counts["unknown"]),
        ):
            if not count:
                continue
            out.append(f"  {title}:")
            out += [f"    {p.email}: {p.error} (attempts {p.attempts})" for p in problems]
            if count > len(problems):
                out.append(
                    f"    … and {count - len(problems)} more (newsletter status {s.issue} --json lists all)"
                )
        if s.counts["unknown"]:
            out.append(
                "  to send the unknown ones again (some may get a second copy): "
                + send_command_line(s.issue, s.list_name, "--resend-unknown")
            )
        if s.counts["failed"]:
            out.append(
                "  to retry the failed ones: " + send_command_line(s.issue, s.list_name, "--retry-failed")
            )
        if s.waiting.count and s.waiting.until is not None:
            out.append(
                f"  {s.waiting.count} of the queued wait for a retry until "
                f"{s.waiting.until:%Y-%m-%d %H:%M:%S} UTC"
            )
        if (s.counts["queued"] or s.counts["sending"]) and s.status != "scheduled":
            out.append("  to finish sending: " + send_command_line(s.issue, s.list_name))
    return out


def _schedule_lines(s: SendStatus) -> list[str]:
    """When a scheduled send goes (or went), and whether the issue changed after it was planned."""
    out = []
    cancel = f"newsletter schedule cancel {s.issue} --list {s.list_name}"
    if s.schedule is not None and s.status == "scheduled":
        out.append(f"  scheduled for {s.schedule.when}: a running 'newsletter worker' sends it then")
        out.append(f"  to call it off: {cancel}")
    elif s.schedule is not None and s.status == "cancelled":
        out.append(f"  cancelled: it was scheduled for {s.schedule.when}, and nothing was sent")
    planned = f"{s.planned_at:%Y-%m-%d %H:%M} UTC" if s.planned_at else ""
    if s.file == "changed":
        gets = "got" if s.status == "done" else "gets"
        out.append(
            f"  the issue was changed after this send was planned ({planned}): "
            f"everyone on this send {gets} it as it was planned, not the change"
        )
        if s.status == "scheduled":
            out.append(f"  to send the changed issue instead: {cancel}, then schedule it again")
        elif s.status != "done":
            out.append("  only a new send (to another list) carries the change")
    elif s.file == "unreadable":
        out.append(
            f"  the issue file can no longer be read: this send goes on with the issue as planned ({planned})"
        )
    return out


@dataclass(frozen=True)
class Progress:
    """One send's progress as the ledger has it now."""

    issue: str
    list_name: str
    subject: str
    provider: str
    status: str  # the send's: planned | sending | done
    counts: dict[str, int]
    # Rows settled per second over the last :data:`RATE_WINDOW`; None when none were, or when no
    # row is left to send.
    rate: float | None
    waiting: ledger.Waiting
    finished_at: datetime | None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def settled(self) -> int:
        return sum(self.counts[state] for state in SETTLED)

    @property
    def remaining(self) -> int:
        return self.counts["queued"] + self.counts["sending"]

    @property
    def seconds_left(self) -> float | None:
        """At the current rate; None while nothing is moving (starting, paused, stopped)."""
        if not self.remaining:
            return 0.0
        if not self.rate:
            return None
        return math.ceil(self.remaining / self.rate)


def send_progress(engine: Engine, issue: str, list_name: str, *, now: datetime | None = None) -> Progress:
    """Counts by state, rate and what waits for a retry, for ``issue`` sent to ``list_name``.

    Raises :class:`NotFound` (saying how to start it) when there is no such send.
    """
    now = now or ledger.utcnow()
    with engine.connect() as conn:
        list_id = find_list_id(conn, list_name)
        send = get_send(conn, issue, list_id)
        if send is None:
            raise NotFound(
                f"{issue} has not been sent to list {list_name!r} yet — start with: {send_command_line(issue, list_name)}"
            )
        counts = ledger.counts_by_state(conn, send.id)
        recent, earliest = 0, None
        # Only a send with rows still to go has a rate to show; asking a finished one would read
        # the time of every settled row (100,000 of them) on each look at its progress page.
        if counts["queued"] + counts["sending"]:
            recent, earliest = conn.execute(
                select(func.count(), func.min(deliveries.c.updated_at)).where(
                    deliveries.c.send_id == send.id,
                    deliveries.c.state.in_(SETTLED),
                    deliveries.c.updated_at >= now - RATE_WINDOW,
                )
            ).one()
        finished_at = conn.execute(select(sends.c.finished_at).where(sends.c.id == send.id)).scalar()
        waiting = ledger.waiting_for_retry(conn, send.id, now)
    rate = None
    if recent and earliest is not None:
        span = max((now - ledger.as_utc(earliest)).total_seconds(), _SHORTEST_SPAN)
        rate = recent / span
    return Progress(
        issue=send.issue,
        list_name=send.list_name,
        subject=send.subject,
        provider=send.provider,
        status=send.status,
        counts=counts,
        rate=rate,
        waiting=waiting,
        finished_at=ledger.as_utc(finished_at) if finished_at is not None else None,
    )
