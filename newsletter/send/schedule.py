"""Scheduled sends: ``newsletter send ISSUE --list NAME --at "2026-12-24 08:00"``, and their fate.

A scheduled send is planned at once — its ledger rows and its frozen snapshot
(:func:`newsletter.send.snapshot.plan_frozen`) — and waits with status
``scheduled`` and the instant it is due (``scheduled_at``, UTC; the user's time
zone kept beside it to show it back). Then:

- a worker (:mod:`newsletter.send.worker`) claims it when it is due with one
  conditional update (``scheduled`` → ``sending``, only while still scheduled
  and due): however many workers look, one wins and fires it, once;
- ``newsletter schedule cancel`` calls it off with the same kind of update
  (``scheduled`` → ``cancelled``) and removes its queued rows and its
  snapshot: nothing was sent, so a later send or schedule starts afresh from
  the file;
- ``newsletter send --at`` again replaces the schedule (time and snapshot) of
  a send that has not started.

Wall-clock times are read in ``[defaults] timezone`` (:func:`instant_of`):
summer and winter time are the zone's, and a time the clocks skip (the spring
gap) or pass twice (the autumn repeat) is refused with what to type instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Connection, Engine, and_, delete, func, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from newsletter.config import Settings
from newsletter.errors import NotFound, SendError, TimeRefused
from newsletter.message import Content
from newsletter.send import snapshot
from newsletter.send.ledger import SendRow, as_utc, utcnow
from newsletter.send.lock import send_lock
from newsletter.send.plan import find_list_id, get_send
from newsletter.store.schema import deliveries, lists, sends

WHEN_FORMAT = "%Y-%m-%d %H:%M"
_WHEN = re.compile(r"\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}")
# A send that has not started may be (re)scheduled; one that has, is resumed instead.
_NOT_STARTED = ("planned", "scheduled", "cancelled")


def zone_of(name: str | None) -> ZoneInfo:
    """The time zone ``name`` (stored with a send, or from the settings); UTC when unknown here."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_text(moment: datetime, zone: str) -> str:
    """``2026-12-24 08:00`` in ``zone``."""
    return moment.astimezone(zone_of(zone)).strftime(WHEN_FORMAT)


def when_text(moment: datetime, zone: str) -> str:
    """``2026-12-24 08:00 Europe/Copenhagen (07:00 UTC)``: what a user typed, and the instant."""
    utc = moment.astimezone(UTC)
    same_day = utc.date() == moment.astimezone(zone_of(zone)).date()
    return f"{local_text(moment, zone)} {zone} ({utc:%H:%M} UTC{'' if same_day else f' {utc:%Y-%m-%d}'})"


def instant_of(text: str, zone_name: str, *, now: datetime | None = None) -> datetime:
    """The UTC instant of ``text`` ("YYYY-MM-DD HH:MM") read in ``zone_name``; a clear
    :class:`TimeRefused` for any other form, a time in the past, one the clocks skip or repeat."""
    typed = " ".join(text.split())
    example = f'--at "2026-12-24 08:00" ({zone_name} time)'
    said = {"typed": typed, "zone": zone_name}
    if not _WHEN.fullmatch(typed):
        raise TimeRefused(
            f"--at {text!r}: write the date and time as YYYY-MM-DD HH:MM, e.g. {example}",
            reason="format",
            values=said,
        )
    try:
        wall = datetime.strptime(typed, WHEN_FORMAT)
    except ValueError:
        raise TimeRefused(
            f"--at {text!r}: there is no such date or time — write e.g. {example}",
            reason="format",
            values=said,
        ) from None
    zone = zone_of(zone_name)
    earlier, later = wall.replace(tzinfo=zone, fold=0), wall.replace(tzinfo=zone, fold=1)
    shift = earlier.utcoffset() or timedelta(0)
    other = later.utcoffset() or timedelta(0)
    if shift != other:
        # Read with the offset before the switch, a skipped time lands after it: the time to pick.
        after_the_gap = earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if after_the_gap != wall:
            instead = f"{after_the_gap:{WHEN_FORMAT}}"
            raise TimeRefused(
                f'--at "{typed}": that time does not exist in {zone_name} — the clocks go forward '
                f'that night and skip it; type "{instead}" instead',
                reason="gap",
                values={**said, "instead": instead},
            )
        instead = f"{wall + (shift - other):{WHEN_FORMAT}}"
        raise TimeRefused(
            f'--at "{typed}": that time happens twice in {zone_name} — the clocks go back that night '
            f'and repeat it; pick a time outside the repeated hour, e.g. "{instead}"',
            reason="repeat",
            values={**said, "instead": instead},
        )
    instant = earlier.astimezone(UTC)
    now = now or utcnow()
    if instant <= now:
        local_now = local_text(now, zone_name)
        raise TimeRefused(
            f'--at "{typed}" is in the past (it is now {local_now} in {zone_name}) '
            "— give a later time, or leave out --at to send now",
            reason="past",
            values={**said, "now": local_now},
        )
    return instant


@dataclass(frozen=True)
class ScheduledSend:
    """A send with a time: waiting (``scheduled``), started by a worker, or ``cancelled``."""

    send_id: int
    issue: str
    list_name: str
    status: str
    at: datetime  # UTC
    zone: str
    recipients: int  # ledger rows waiting to be sent

    @property
    def when(self) -> str:
        return when_text(self.at, self.zone)


def _scheduled(
    where: ColumnElement[bool], conn: Connection, *, any_send: bool = False
) -> list[ScheduledSend]:
    queued = (
        select(func.count())
        .where(deliveries.c.send_id == sends.c.id, deliveries.c.state == "queued")
        .scalar_subquery()
    )
    rows = conn.execute(
        select(
            sends.c.id,
            sends.c.issue,
            lists.c.name,
            sends.c.status,
            sends.c.scheduled_at,
            sends.c.timezone,
            sends.c.created_at,
            queued.label("queued"),
        )
        .select_from(sends.outerjoin(lists, lists.c.id == sends.c.list_id))
        .where(true() if any_send else sends.c.scheduled_at.is_not(None), where)
        .order_by(sends.c.scheduled_at, sends.c.id)
    )
    return [
        ScheduledSend(
            row.id,
            row.issue,
            row.name or "(deleted list)",
            row.status,
            as_utc(row.scheduled_at or row.created_at),
            row.timezone or "UTC",
            int(row.queued),
        )
        for row in rows
    ]


def waiting_sends(conn: Connection) -> list[ScheduledSend]:
    """Every send still waiting for its time, soonest first (``newsletter schedule list``)."""
    return _scheduled(sends.c.status == "scheduled", conn)


def schedule_of(conn: Connection, send_id: int) -> ScheduledSend | None:
    """The schedule of send ``send_id``; None for a send that never had one."""
    found = _scheduled(sends.c.id == send_id, conn)
    return found[0] if found else None


def next_due(conn: Connection) -> datetime | None:
    """When the soonest waiting send is due; None when none waits."""
    soonest = conn.execute(
        select(func.min(sends.c.scheduled_at)).where(sends.c.status == "scheduled")
    ).scalar()
    return as_utc(soonest) if soonest is not None else None


def refuse_if_scheduled(conn: Connection, send: SendRow | None) -> None:
    """A send waiting for its time is the worker's: sending it now needs a cancel first."""
    if send is None or send.status != "scheduled":
        return
    waiting = schedule_of(conn, send.id)
    when = waiting.when if waiting is not None else "later"
    raise SendError(
        f"{send.issue} is scheduled to go to list {send.list_name} at {when}, and a running "
        "'newsletter worker' sends it then — to send it now instead, cancel the schedule first: "
        f"newsletter schedule cancel {send.issue} --list {send.list_name}"
    )


def _already_started(send: SendRow) -> SendError:
    if send.status == "done":
        return SendError(
            f"{send.issue} has already been sent to list {send.list_name} — --at schedules a send "
            "that has not started (see: newsletter status " + send.issue + ")"
        )
    return SendError(
        f"{send.issue} to list {send.list_name} has already started — it cannot be scheduled; "
        f"finish it now with: newsletter send {send.issue} --list {send.list_name}"
    )


def schedule_send(
    db: Engine,
    settings: Settings,
    *,
    issue: str,
    content: Content,
    lang: str,
    list_name: str,
    at: datetime,
    provider: str | None = None,
    zone: str | None = None,
) -> ScheduledSend:
    """Plan the send of ``issue`` to the list now and leave it for a worker at ``at`` (UTC).

    ``provider`` and ``zone`` (the one the time was typed in) default to the settings'.

    The ledger rows and the snapshot are made at once (members who join before the time are
    added when it fires). A send already scheduled gets the new time and the file as it is
    now; one that has started is refused.
    """
    provider = provider or settings.provider.name
    zone = zone or settings.timezone
    with send_lock(db, issue), db.begin() as conn:
        existing = get_send(conn, issue, find_list_id(conn, list_name))
        if existing is not None:
            # Conditional, so that it waits for (or beats) a worker claiming it this instant.
            held = conn.execute(
                update(sends)
                .where(sends.c.id == existing.id, sends.c.status.in_(_NOT_STARTED))
                .values(scheduled_at=at, timezone=zone)
            )
            if held.rowcount != 1:
                raise _already_started(get_send(conn, issue, existing.list_id) or existing)
        planned = snapshot.plan_frozen(
            conn,
            settings,
            issue=issue,
            content=content,
            lang=lang,
            list_name=list_name,
            provider=provider,
            refreeze=True,
        )
        conn.execute(
            update(sends)
            .where(sends.c.id == planned.send.id)
            .values(status="scheduled", scheduled_at=at, timezone=zone, finished_at=None)
        )
        found = schedule_of(conn, planned.send.id)
    assert found is not None
    return found


@dataclass(frozen=True)
class Cancelled:
    send: ScheduledSend
    removed: int  # queued rows removed: nobody gets them


def cancel(db: Engine, issue: str, list_name: str) -> Cancelled:
    """Call off the scheduled send of ``issue`` to the list: it never fires, its queued rows go.

    Refused (one line saying why and what to do) when there is nothing scheduled: never was,
    already cancelled, or already started by a worker.
    """
    with db.begin() as conn:
        send = get_send(conn, issue, find_list_id(conn, list_name))
        waiting = schedule_of(conn, send.id) if send is not None else None
        if send is None or waiting is None:
            raise NotFound(
                f"{issue} is not scheduled for list {list_name} — see what is: newsletter schedule list"
            )
        won = conn.execute(
            update(sends)
            .where(sends.c.id == send.id, sends.c.status == "scheduled")
            .values(status="cancelled")
        )
        if won.rowcount != 1:
            status = conn.execute(select(sends.c.status).where(sends.c.id == send.id)).scalar()
            if status == "cancelled":
                raise SendError(f"{issue} to list {list_name} was already cancelled — nothing will be sent")
            raise SendError(
                f"{issue} to list {list_name} has already started (it was due at {waiting.when}) — "
                f"it can no longer be cancelled; see how far it got: newsletter status {issue} --list {list_name}"
            )
        removed = conn.execute(
            delete(deliveries).where(deliveries.c.send_id == send.id, deliveries.c.state == "queued")
        ).rowcount
        left = conn.execute(select(func.count()).where(deliveries.c.send_id == send.id)).scalar_one()
        if not left:  # nothing went out: a later send freezes the file as it is then
            snapshot.forget(conn, send.id)
    return Cancelled(waiting, int(removed or 0))


def claim_due(db: Engine, now: datetime | None = None) -> list[ScheduledSend]:
    """The waiting sends due at ``now`` that this caller won (now ``sending``): each is won once."""
    now = now or utcnow()
    won = []
    with db.connect() as conn:
        due = conn.execute(
            select(sends.c.id)
            .where(sends.c.status == "scheduled", sends.c.scheduled_at <= now)
            .order_by(sends.c.scheduled_at, sends.c.id)
        ).scalars()
        candidates = list(due)
    for send_id in candidates:
        with db.begin() as conn:
            claimed = conn.execute(
                update(sends)
                .where(
                    and_(sends.c.id == send_id, sends.c.status == "scheduled", sends.c.scheduled_at <= now)
                )
                .values(status="sending")
            )
            if claimed.rowcount == 1:
                found = schedule_of(conn, send_id)
                if found is not None:
                    won.append(found)
    return won


def started_unfinished(db: Engine) -> list[ScheduledSend]:
    """Sends the schedule started that still have queued rows (a worker stopped or died mid-send);
    on PostgreSQL also any send another process is sending right now (a batch under a live lease),
    which workers share. A send someone stopped by hand is left to them."""
    with db.connect() as conn:
        rows_waiting = (
            select(deliveries.c.id)
            .where(deliveries.c.send_id == sends.c.id, deliveries.c.state.in_(("queued", "sending")))
            .exists()
        )
        started = and_(sends.c.status == "sending", sends.c.list_id.is_not(None), rows_waiting)
        if conn.dialect.name != "postgresql":
            return _scheduled(started, conn)
        running_now = (
            select(deliveries.c.id)
            .where(
                deliveries.c.send_id == sends.c.id,
                deliveries.c.state == "sending",
                deliveries.c.lease_expires_at > func.clock_timestamp(),
            )
            .exists()
        )
        return _scheduled(and_(started, sends.c.scheduled_at.is_not(None) | running_now), conn, any_send=True)
