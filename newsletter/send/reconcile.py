"""Settle ``unknown`` rows by asking the provider what it accepted.

A row is ``unknown`` when its message may or may not have gone out (a crash,
``kill -9``, a timeout or a 5xx while a provider without idempotency keys had
the batch). Every message carries ``nl_issue``/``nl_subscriber``/``nl_delivery``,
and a provider with a searchable log (``log_search`` of its declaration:
Postmark, Mailgun, SendGrid with its add-on) can say whether it took it::

    unknown ──found in the log──────────────────────────────► sent (the provider's message id)
       │────not there, and the log is complete for that time─► queued (the next send delivers it once)
       └────anything else──────────────────────────────────────► unknown, with the reason

"Not there" is proof only for a moment the log is complete for. The row's
``updated_at`` is when it became ``unknown``: after its request was sent and
the client gave up on it (or, after a crash, when the next run found it), so
the provider cannot have accepted the message later than that (both moments
are read from our own clock; the provider's clock plays no part). Only when that moment lies more than the
provider's ``consistent_after`` in the past, and less than ``kept_for``, does
an empty search send the row back to the queue. (``kept_for`` is counted from
when the row was planned, the earliest the message can have been accepted.) A row the provider's log cannot
answer for (a refused key, a 429, a 5xx, an answer we cannot read, a provider
other than the one that sent it) stays ``unknown`` with the reason in ``error``.

:func:`reconcile_send` does it for one send (``newsletter reconcile``);
:func:`before_sending` is the step ``execute_send`` runs first.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update

from newsletter.errors import ProviderError, ProviderPermanent, ProviderRetryable
from newsletter.providers.base import AcceptedQuery, Provider
from newsletter.send import ledger
from newsletter.send.ledger import DELIVERY_PERSON, SendRow, as_utc
from newsletter.send.report import send_command_line
from newsletter.store.schema import deliveries, subscribers

# Look-ups that fail one after the other before the rest are left for a later run.
MAX_FAILURES_IN_A_ROW = 3
# Reasons a summary names; the rest are counted together (`newsletter status` lists every row).
REASONS_SHOWN = 3

log = logging.getLogger(__name__)


@dataclass
class Reconciliation:
    """What one reconciliation of a send did; the ledger holds the rows themselves."""

    issue: str
    list_name: str
    provider: str  # the provider's label
    looked_up: int = 0  # unknown rows at the start
    sent: int = 0  # found in the provider's log
    requeued: int = 0  # provably not there: queued again
    # Rows left unknown, by reason (a reason is one line a person can act on).
    undecided: Counter[str] = field(default_factory=Counter)
    # The earliest moment a later run may settle rows the log was not yet complete for.
    retry_at: datetime | None = None

    @property
    def still_unknown(self) -> int:
        return sum(self.undecided.values())


@dataclass(frozen=True)
class _Row:
    delivery_id: int
    email: str | None
    provider: str | None
    planned_at: datetime
    unknown_since: datetime


def _unknown_rows(db: Engine, send: SendRow) -> list[_Row]:
    with db.connect() as conn:
        rows = conn.execute(
            select(
                deliveries.c.id,
                deliveries.c.provider,
                deliveries.c.created_at,
                deliveries.c.updated_at,
                subscribers.c.email,
            )
            .select_from(DELIVERY_PERSON)
            .where(deliveries.c.send_id == send.id, deliveries.c.state == "unknown")
            .order_by(deliveries.c.id)
        ).all()
    return [
        _Row(row.id, row.email, row.provider, as_utc(row.created_at), as_utc(row.updated_at)) for row in rows
    ]


def _mark_sent(db: Engine, row: _Row, message_id: str, what: str, now: datetime) -> bool:
    with db.begin() as conn:
        result = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.delivery_id, deliveries.c.state == "unknown")
            .values(
                state="sent",
                message_id=message_id[:255],
                error=f"found in {what} by newsletter reconcile",
                sent_at=row.unknown_since,
                not_before=None,
                updated_at=now,
            )
        )
    return bool(result.rowcount)


def _requeue(db: Engine, row: _Row, what: str, now: datetime) -> bool:
    with db.begin() as conn:
        result = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.delivery_id, deliveries.c.state == "unknown")
            .values(
                state="queued",
                error=f"not in {what}: queued again by newsletter reconcile",
                not_before=None,
                updated_at=now,
            )
        )
    return bool(result.rowcount)


def _leave(db: Engine, row: _Row, reason: str) -> None:
    """The row stays unknown; its error says why (``updated_at`` is kept: it dates the attempt)."""
    with db.begin() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id == row.delivery_id, deliveries.c.state == "unknown")
            .values(error=f"{reason} — it may or may not have been delivered")
        )


def _minutes(span: timedelta) -> str:
    minutes = round(span.total_seconds() / 60)
    if minutes >= 2 * 60 * 24:
        return f"{minutes // (60 * 24)} days"
    if minutes >= 120:
        return f"{minutes // 60} hours"
    return f"{minutes} minutes" if minutes != 1 else "1 minute"


def reconcile_send(
    db: Engine,
    send: SendRow,
    provider: Provider,
    *,
    now: Callable[[], datetime] = ledger.utcnow,
    consistent_after: timedelta | None = None,
) -> Reconciliation:
    """Look every ``unknown`` row of ``send`` up in ``provider``'s log and settle what it proves.

    ``consistent_after`` replaces the provider's documented delay (tests, against the emulator's).
    Never raises a provider error: what could not be decided stays unknown, with the reason.
    """
    label = provider.label or provider.name
    result = Reconciliation(send.issue, send.list_name, label)
    rows = _unknown_rows(db, send)
    result.looked_up = len(rows)
    search = provider.log_search
    if search is None:
        if rows:
            result.undecided[f"{label} keeps no log that newsletter can search"] = len(rows)
        return result
    delay = search.consistent_after if consistent_after is None else consistent_after
    what = f"{label}'s log"
    failures = 0
    stopped = ""
    for row in rows:
        if stopped:
            result.undecided[stopped] += 1
            _leave(db, row, stopped)
            continue
        if row.provider and row.provider != provider.name:
            reason = (
                f"sent through {row.provider}, but [provider] is now {provider.name}: its log cannot be asked"
            )
            result.undecided[reason] += 1
            _leave(db, row, reason)
            continue
        query = AcceptedQuery(row.delivery_id, send.issue, row.email, since=row.planned_at)
        try:
            message_id = provider.find_accepted(query)
        except ProviderError as exc:
            failures += 1
            reason = f"could not look it up in {what}: {exc}"
            if isinstance(exc, ProviderPermanent | ProviderRetryable) or failures >= MAX_FAILURES_IN_A_ROW:
                # A refused key or a rate limit answers every other row alike: stop asking.
                stopped = reason
            result.undecided[reason] += 1
            _leave(db, row, reason)
            continue
        failures = 0
        moment = now()
        if message_id is not None:
            if _mark_sent(db, row, message_id, what, moment):
                result.sent += 1
            continue
        complete_from = row.unknown_since + delay
        if moment < complete_from:
            reason = (
                f"not in {what} yet, but it can take {_minutes(delay)} to show a message — "
                f"run newsletter reconcile again after {complete_from:%Y-%m-%d %H:%M} UTC"
            )
            result.retry_at = max(result.retry_at or complete_from, complete_from)
            result.undecided[reason] += 1
            _leave(db, row, reason)
            continue
        if moment - row.planned_at > search.kept_for:
            reason = f"older than the {_minutes(search.kept_for)} {what} is sure to keep: its absence proves nothing"
            result.undecided[reason] += 1
            _leave(db, row, reason)
            continue
        if _requeue(db, row, what, moment):
            result.requeued += 1
    log.info(
        "reconciled %s to %s: %d looked up, %d sent, %d queued again, %d still unknown",
        send.issue, send.list_name, result.looked_up, result.sent, result.requeued, result.still_unknown,
    )  # fmt: skip
    return result


def before_sending(db: Engine, send: SendRow, provider: Provider) -> Reconciliation | None:
    """The first step of a send: settle what an earlier run left unknown, when the provider can say.

    None when there is nothing to settle or the provider keeps no searchable log.
    """
    if provider.log_search is None:
        return None
    with db.connect() as conn:
        if not ledger.counts_by_state(conn, send.id)["unknown"]:
            return None
    return reconcile_send(db, send, provider)


def summary_lines(result: Reconciliation) -> list[str]:
    """What a reconciliation settled, in lines for the person who ran it (the CLI and ``send``)."""
    where = f"{result.issue} to list {result.list_name}"
    if not result.looked_up:
        return [f"{where}: no unknown messages, nothing to look up."]
    lines = [f"{where}: looked up {result.looked_up} unknown message(s) in {result.provider}'s records."]
    if result.sent:
        lines.append(f"  {result.sent} found there: now recorded as sent.")
    if result.requeued:
        lines.append(
            f"  {result.requeued} not there: queued again, to be delivered once by "
            f"{send_command_line(result.issue, result.list_name)}"
        )
    for reason, count in result.undecided.most_common(REASONS_SHOWN):
        lines.append(f"  {count} still unknown: {reason}")
    rest = sum(count for _, count in result.undecided.most_common()[REASONS_SHOWN:])
    if rest:
        lines.append(
            f"  {rest} still unknown for other reasons (newsletter status {result.issue} lists them)"
        )
    return lines
