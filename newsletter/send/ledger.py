"""The ledger: one ``deliveries`` row per (issue, subscriber), the single source of truth.

Every state change is its own committed transaction, so a crash at any instant
leaves rows that say exactly what is known::

    queued ──claim──► sending ──record──► sent | failed | queued (retry later)
       │                 │
       └──► skipped      └── crash / ambiguous or unreadable answer ──► unknown (non-idempotent provider)
            (unsubscribed, bounced, complained or suppressed since planning)

A row is marked ``sending`` and committed *before* the provider is called;
that is what lets a later run tell "never sent" (``queued``) from "maybe sent"
(``sending``). The functions here take a :class:`sqlalchemy.Connection` and
leave the transaction to the caller, except where noted.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, and_, bindparam, case, exists, func, or_, select, true, update
from sqlalchemy.sql.elements import ColumnElement

from newsletter.providers.base import Outcome, RecipientResult
from newsletter.store.schema import deliveries, memberships, sends, subscribers, suppressions
from newsletter.store.subscribers import suppress

STATES = ("queued", "sending", "sent", "failed", "skipped", "unknown")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything in the ledger is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SendRow:
    id: int
    issue: str
    list_id: int
    list_name: str
    subject: str
    provider: str
    status: str


@dataclass(frozen=True)
class ClaimedRow:
    """A delivery marked ``sending``: who it goes to and how many tries it has had."""

    delivery_id: int
    subscriber_id: int
    email: str
    name: str | None
    language: str
    attempts: int
    # The person's link key: their unsubscribe and preference links are bound to it.
    link_key: str = ""


# How long a RETRY answer for one row makes it wait (seconds), given the row and the answer.
RetryDelay = Callable[[ClaimedRow, RecipientResult], float]


@dataclass(frozen=True)
class Claim:
    batch_key: str
    rows: tuple[ClaimedRow, ...]
    skipped: int


@dataclass
class Recorded:
    sent: int = 0
    failed: int = 0
    requeued: int = 0
    suppressed: int = 0
    unknown: int = 0  # the answer about them could not be read: maybe delivered
    # Seconds the provider asked us to wait before retrying the requeued rows.
    retry_after: float | None = None


def new_batch_key() -> str:
    """A fresh key naming one claimed batch; it doubles as the provider's idempotency key."""
    return uuid.uuid4().hex


_RECIPIENT_COLUMNS = (
    deliveries.c.id,
    deliveries.c.subscriber_id,
    deliveries.c.attempts,
    subscribers.c.email,
    subscribers.c.name,
    subscribers.c.language,
    subscribers.c.link_key,
)
# A row resolves to its person only while id AND address hash agree: were the id ever someone
# else's, the row resolves to nobody (skipped as erased) instead of mailing a stranger.
DELIVERY_PERSON = deliveries.outerjoin(
    subscribers,
    and_(subscribers.c.id == deliveries.c.subscriber_id, subscribers.c.email_hash == deliveries.c.email_hash),
)


def _skip_reason(row: object) -> str | None:
    """Why a queued row may no longer be mailed, or None when it still may."""
    if row.email is None:  # type: ignore[attr-defined]
        return "subscriber was erased after the send was planned"
    if row.suppression is not None:  # type: ignore[attr-defined]
        return f"address is suppressed ({row.suppression})"  # type: ignore[attr-defined]
    if row.status != "active":  # type: ignore[attr-defined]
        return f"subscriber has {row.status}"  # type: ignore[attr-defined]
    if row.membership != "subscribed":  # type: ignore[attr-defined]
        return "unsubscribed from the list after the send was planned"
    return None


def claim(
    conn: Connection,
    send: SendRow,
    size: int,
    *,
    now: datetime | None = None,
    owner: str | None = None,
    lease_until: object = None,
    skip_locked: bool = False,
) -> Claim | None:
    """Mark up to ``size`` queued rows ``sending`` under a new batch key; None when none are due.

    ``owner`` and ``lease_until`` (a moment, or a SQL expression of the database's clock) lease the
    rows to one process (:mod:`newsletter.send.lease`). ``skip_locked`` (PostgreSQL): rows another
    worker is claiming this instant are passed over (``FOR UPDATE SKIP LOCKED``), not waited for.

    Mailability is checked again here: rows whose subscriber unsubscribed,
    bounced, complained or was suppressed since planning become ``skipped``.
    Rows whose ``not_before`` lies after ``now`` (default: the current time)
    are waiting out a retry delay and are left alone.
    """
    now = now or utcnow()
    query = (
        select(
            *_RECIPIENT_COLUMNS,
            subscribers.c.status,
            memberships.c.state.label("membership"),
            suppressions.c.reason.label("suppression"),
        )
        .select_from(
            DELIVERY_PERSON.outerjoin(
                memberships,
                and_(
                    memberships.c.subscriber_id == deliveries.c.subscriber_id,
                    memberships.c.list_id == send.list_id,
                ),
            ).outerjoin(suppressions, suppressions.c.email_hash == deliveries.c.email_hash)
        )
        .where(
            deliveries.c.send_id == send.id,
            deliveries.c.state == "queued",
            or_(deliveries.c.not_before.is_(None), deliveries.c.not_before <= now),
        )
        .order_by(deliveries.c.id)
        .limit(size)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=deliveries)
    candidates = conn.execute(query).all()
    if not candidates:
        return None
    key = new_batch_key()
    skipped = []
    claimed = []
    for row in candidates:
        reason = _skip_reason(row)
        if reason is None:
            claimed.append(
                ClaimedRow(
                    row.id,
                    row.subscriber_id,
                    row.email,
                    row.name,
                    row.language,
                    row.attempts + 1,
                    row.link_key,
                )
            )
        else:
            skipped.append({"b_id": row.id, "b_error": reason})
    if skipped:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == bindparam("b_id"))
            .values(state="skipped", error=bindparam("b_error"), not_before=None, updated_at=now),
            skipped,
        )
    if claimed:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([row.delivery_id for row in claimed]))
            .values(
                state="sending",
                batch_key=key,
                attempts=deliveries.c.attempts + 1,
                provider=send.provider,
                not_before=None,
                updated_at=now,
                lease_owner=owner,
                lease_expires_at=lease_until,
            )
        )
    return Claim(batch_key=key, rows=tuple(claimed), skipped=len(skipped))


def record(
    conn: Connection,
    batch_key: str,
    rows: Sequence[ClaimedRow],
    results: Sequence[RecipientResult],
    *,
    max_attempts: int,
    retry_delay: RetryDelay | None = None,
    now: datetime | None = None,
    owner: str | None = None,
) -> Recorded:
    """Write what the provider answered for each row of a claimed batch.

    A row to retry goes back to ``queued`` with ``not_before`` set ``retry_delay(row, result)``
    seconds after ``now`` (no delay without ``retry_delay``), so that a restarted run waits too.
    With ``owner``, only rows still leased to it are written: a batch another worker recovered
    (its lease expired) is that worker's now.
    """
    now = now or utcnow()
    outcome = Recorded()
    sent: list[dict[str, object]] = []
    failed: list[dict[str, object]] = []
    requeued: list[dict[str, object]] = []
    unknown: list[dict[str, object]] = []
    suppress_ids: list[int] = []
    for row, result in zip(rows, results, strict=True):
        if result.outcome is Outcome.UNKNOWN:
            unknown.append(
                {
                    "b_id": row.delivery_id,
                    "b_error": f"{result.reason} — it may or may not have been delivered; "
                    "send it again only with --resend-unknown",
                }
            )
        elif result.outcome is Outcome.ACCEPTED:
            sent.append({"b_id": row.delivery_id, "b_message_id": result.message_id})
        elif result.outcome is Outcome.REJECTED:
            failed.append({"b_id": row.delivery_id, "b_error": result.reason or "rejected by the provider"})
            if result.suppress:
                suppress_ids.append(row.delivery_id)
        elif row.attempts >= max_attempts:
            failed.append(
                {
                    "b_id": row.delivery_id,
                    "b_error": f"gave up after {row.attempts} attempts: {result.reason}",
                }
            )
        else:
            delay = retry_delay(row, result) if retry_delay is not None else 0.0
            requeued.append(
                {
                    "b_id": row.delivery_id,
                    "b_error": f"will retry: {result.reason}",
                    "b_not_before": now + timedelta(seconds=delay) if delay > 0 else None,
                }
            )
            if result.retry_after is not None:
                outcome.retry_after = max(outcome.retry_after or 0.0, result.retry_after)
    in_this_batch = and_(
        deliveries.c.id == bindparam("b_id"),
        deliveries.c.batch_key == batch_key,
        deliveries.c.state == "sending",
        held_by(owner),
    )
    if sent:
        conn.execute(
            update(deliveries)
            .where(in_this_batch)
            .values(
                state="sent",
                message_id=bindparam("b_message_id"),
                error=None,
                sent_at=now,
                not_before=None,
                updated_at=now,
            ),
            sent,
        )
    if failed:
        conn.execute(
            update(deliveries)
            .where(in_this_batch)
            .values(state="failed", error=bindparam("b_error"), not_before=None, updated_at=now),
            failed,
        )
    if requeued:
        conn.execute(
            update(deliveries)
            .where(in_this_batch)
            .values(
                state="queued",
                error=bindparam("b_error"),
                not_before=bindparam("b_not_before"),
                updated_at=now,
            ),
            requeued,
        )
    if unknown:
        conn.execute(
            update(deliveries)
            .where(in_this_batch)
            .values(state="unknown", error=bindparam("b_error"), not_before=None, updated_at=now),
            unknown,
        )
    if suppress_ids:
        outcome.suppressed = _suppress_deliveries(conn, suppress_ids, failed)
    outcome.sent, outcome.failed, outcome.requeued = len(sent), len(failed), len(requeued)
    outcome.unknown = len(unknown)
    return outcome


def _suppress_deliveries(conn: Connection, delivery_ids: list[int], failed: list[dict[str, object]]) -> int:
    """Put the addresses of rows the provider called invalid or inactive on the suppression list."""
    reasons = {item["b_id"]: str(item["b_error"]) for item in failed}
    hashes = conn.execute(
        select(deliveries.c.id, deliveries.c.email_hash).where(deliveries.c.id.in_(delivery_ids))
    ).all()
    for delivery_id, email_hash in hashes:
        suppress(conn, email_hash, "invalid", f"provider rejected it: {reasons.get(delivery_id, '')}")
    return len(hashes)


def held_by(owner: str | None) -> ColumnElement[bool]:
    """Rows leased to ``owner`` (any row when None): what a worker may still write about its batch."""
    return deliveries.c.lease_owner == owner if owner is not None else true()


def requeue_batch(
    conn: Connection,
    batch_key: str,
    error: str,
    *,
    not_before: datetime | None = None,
    owner: str | None = None,
) -> int:
    """A batch that provably never reached the provider goes back to ``queued``; its attempt is refunded.

    ``not_before``: the backoff (or the provider's ``Retry-After``) it must wait out, even across a restart.
    """
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.batch_key == batch_key, deliveries.c.state == "sending", held_by(owner))
        .values(
            state="queued",
            attempts=case((deliveries.c.attempts > 0, deliveries.c.attempts - 1), else_=0),
            error=error,
            not_before=not_before,
            updated_at=utcnow(),
        )
    )
    return int(result.rowcount or 0)


def mark_batch_unknown(conn: Connection, batch_key: str, error: str, *, owner: str | None = None) -> int:
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.batch_key == batch_key, deliveries.c.state == "sending", held_by(owner))
        .values(state="unknown", error=error, not_before=None, updated_at=utcnow())
    )
    return int(result.rowcount or 0)


def count_attempt(
    conn: Connection, batch_key: str, *, not_before: datetime | None = None, owner: str | None = None
) -> None:
    """One more try of the same batch under the same key (idempotent providers), due at ``not_before``."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.batch_key == batch_key, deliveries.c.state == "sending", held_by(owner))
        .values(attempts=deliveries.c.attempts + 1, not_before=not_before, updated_at=utcnow())
    )


def next_due(conn: Connection, send_id: int) -> datetime | None:
    """When the earliest queued row of a send may be claimed; None when nothing is queued."""
    count, waiting, earliest = conn.execute(
        select(func.count(), func.count(deliveries.c.not_before), func.min(deliveries.c.not_before)).where(
            deliveries.c.send_id == send_id, deliveries.c.state == "queued"
        )
    ).one()
    if not count:
        return None
    if waiting < count or earliest is None:
        return datetime.min.replace(tzinfo=UTC)  # some rows wait for nothing
    return as_utc(earliest)


@dataclass(frozen=True)
class Waiting:
    """Queued rows waiting out a retry delay."""

    count: int
    until: datetime | None  # when the last of them becomes due


def pause_send(conn: Connection, send_id: int, until: datetime) -> None:
    """The provider asked everyone to wait: no batch of this send goes out before ``until``."""
    conn.execute(update(sends).where(sends.c.id == send_id).values(not_before=until))


def paused_until(conn: Connection, send_id: int, now: datetime | None = None) -> datetime | None:
    """When a pause the provider asked for ends; None when the send is not paused."""
    until = conn.execute(select(sends.c.not_before).where(sends.c.id == send_id)).scalar()
    if until is None or as_utc(until) <= (now or utcnow()):
        return None
    return as_utc(until)


def waiting_for_retry(conn: Connection, send_id: int, now: datetime | None = None) -> Waiting:
    """Queued rows that may not be sent yet: their own retry delay, or a pause of the whole send."""
    now = now or utcnow()
    pause = paused_until(conn, send_id, now)
    waiting = deliveries.c.not_before > now
    if pause is not None:
        waiting = or_(waiting, deliveries.c.not_before.is_(None), deliveries.c.not_before <= now)
    count, until = conn.execute(
        select(func.count(), func.max(deliveries.c.not_before)).where(
            deliveries.c.send_id == send_id, deliveries.c.state == "queued", waiting
        )
    ).one()
    last = as_utc(until) if until is not None else None
    if pause is not None and count:
        last = max(last, pause) if last is not None else pause
    return Waiting(int(count), last if count else None)


@dataclass
class InterruptedBatch:
    """Rows a previous run left ``sending`` under one batch key: maybe delivered, maybe not."""

    batch_key: str
    provider: str
    claimed_at: datetime
    rows: list[ClaimedRow]
    # When an earlier run meant to post it again (after a backoff); None: at once.
    not_before: datetime | None = None


def interrupted_batches(
    conn: Connection, send_id: int, *, only: ColumnElement[bool] | None = None, skip_locked: bool = False
) -> list[InterruptedBatch]:
    """Rows a previous run left ``sending``, grouped by batch key, in their original order.

    ``only`` narrows the rows (e.g. to expired leases); ``skip_locked`` (PostgreSQL) locks the
    rows found and passes over rows another transaction holds.
    """
    query = (
        select(
            *_RECIPIENT_COLUMNS,
            deliveries.c.batch_key,
            deliveries.c.provider,
            deliveries.c.updated_at,
            deliveries.c.not_before,
        )
        .select_from(DELIVERY_PERSON)
        .where(
            deliveries.c.send_id == send_id,
            deliveries.c.state == "sending",
            only if only is not None else true(),
        )
        .order_by(deliveries.c.id)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True, of=deliveries)
    rows = conn.execute(query)
    batches: dict[str, InterruptedBatch] = {}
    for row in rows:
        claimed_at = row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(tzinfo=UTC)
        batch = batches.setdefault(
            row.batch_key or "", InterruptedBatch(row.batch_key or "", row.provider or "", claimed_at, [])
        )
        batch.claimed_at = min(batch.claimed_at, claimed_at)
        if row.not_before is not None:
            due = as_utc(row.not_before)
            batch.not_before = max(batch.not_before, due) if batch.not_before else due
        batch.rows.append(
            ClaimedRow(
                row.id,
                row.subscriber_id,
                row.email or "",
                row.name,
                row.language or "da",
                row.attempts,
                row.link_key or "",
            )
        )
    return list(batches.values())


def mark_batch_rows_unknown(conn: Connection, delivery_ids: Sequence[int], error: str) -> int:
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(list(delivery_ids)), deliveries.c.state == "sending")
        .values(state="unknown", error=error, not_before=None, updated_at=utcnow())
    )
    return int(result.rowcount or 0)


def requeue_unknown(conn: Connection, send_id: int) -> int:
    """``--resend-unknown``: the user accepts that some of these may arrive twice."""
    result = conn.execute(
        update(deliveries)
        .where(deliveries.c.send_id == send_id, deliveries.c.state == "unknown")
        .values(state="queued", error="re-queued by --resend-unknown", not_before=None, updated_at=utcnow())
    )
    return int(result.rowcount or 0)


def requeue_failed(conn: Connection, send_id: int) -> int:
    """``--retry-failed``: failed rows get a fresh set of attempts, except suppressed addresses."""
    result = conn.execute(
        update(deliveries)
        .where(
            deliveries.c.send_id == send_id,
            deliveries.c.state == "failed",
            ~exists().where(suppressions.c.email_hash == deliveries.c.email_hash),
        )
        .values(
            state="queued",
            attempts=0,
            error="re-queued by --retry-failed",
            not_before=None,
            updated_at=utcnow(),
        )
    )
    return int(result.rowcount or 0)


def counts_by_state(conn: Connection, send_id: int) -> dict[str, int]:
    counts = dict.fromkeys(STATES, 0)
    for state, count in conn.execute(
        select(deliveries.c.state, func.count())
        .where(deliveries.c.send_id == send_id)
        .group_by(deliveries.c.state)
    ):
        counts[state] = int(count)
    return counts


def set_send_status(conn: Connection, send_id: int, status: str) -> None:
    values: dict[str, object] = {"status": status}
    values["finished_at"] = utcnow() if status == "done" else None
    conn.execute(update(sends).where(sends.c.id == send_id).values(**values))
