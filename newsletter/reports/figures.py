"""An issue's outcome in numbers: counts, rates, bounces and complaints, timelines, domains.

Every figure is one set-based query (GROUP BY in the database), so a report over 100,000
messages and 300,000 events reads a few hundred aggregated rows, never the rows themselves
(``bench/bench_report.py`` measures it).

What is counted, and why so:

- A *message* is one ledger row (``deliveries``) of the issue's sends (one per list; cancelled
  sends sent nothing and are left out). It counts as **sent** when the ledger says ``sent``, or
  when the provider reported anything about it: a row left ``unknown`` after a crash (or
  reconciled later) that the provider then delivered evidently was sent.
- The outcomes — delivered, deferred, bounced, complained, unsubscribed, opened, clicked — count
  *messages that had at least one such event*, so a provider's retried webhook, a second soft
  bounce or three opens by one reader count once. A message with a hard bounce is a hard bounce
  even if it soft-bounced first; ``bounced_soft`` are the bounced messages with no hard bounce.
- Rates are against the messages sent.
- Events are matched to messages when they are stored (:mod:`newsletter.store.events`); an
  event that matched no ledger row cannot be told to belong to this issue and is not counted.
  A replayed webhook was never stored twice, so it is not counted twice either.
- Opens and clicks are shown only where tracking is on (``[tracking]``): with it off they are
  None, not 0 — "not measured" is not "nobody".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
)

from newsletter.config import TrackingSettings
from newsletter.errors import NotFound
from newsletter.send import ledger
from newsletter.send.plan import SendRow, find_list_id, get_send, sends_of_issue
from newsletter.store.schema import clicks, deliveries, events, subscribers

# The outcomes counted per message, in the order every output shows them.
OUTCOMES = ("delivered", "deferred", "bounced", "complained", "unsubscribed", "opened", "clicked")
ENGAGEMENT = ("opened", "clicked")
# Every count of the report, in order: the JSON contract's "counts" keys.
COUNT_KEYS = (
    "sent",
    "delivered",
    "deferred",
    "bounced",
    "bounced_hard",
    "bounced_soft",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
)
# The events timeline covers this many hours from the hour the send started.
EVENT_WINDOW_HOURS = 72
ERASED = "(erased)"
NO_TRACKING = TrackingSettings()


@dataclass(frozen=True)
class Listed:
    """One bounce or complaint as the provider reported it."""

    at: datetime | None
    email: str  # ERASED when the person was erased since
    kind: str  # bounced | complained
    hard: bool | None
    reason: str
    provider: str


@dataclass(frozen=True)
class DomainRow:
    domain: str
    counts: dict[str, int]


@dataclass(frozen=True)
class HourRow:
    hour: datetime
    counts: dict[str, int]


@dataclass(frozen=True)
class LinkRow:
    url: str
    clicks: int


@dataclass
class IssueReport:
    issue: str
    subject: str
    lists: list[str]
    providers: list[str]
    tracking: TrackingSettings
    generated_at: datetime
    ledger: dict[str, int]
    counts: dict[str, int | None]
    first_sent_at: datetime | None = None
    last_sent_at: datetime | None = None
    bounces: list[Listed] = field(default_factory=list)
    complaints: list[Listed] = field(default_factory=list)
    send_timeline: list[tuple[datetime, int]] = field(default_factory=list)
    event_timeline: list[HourRow] = field(default_factory=list)
    # Events that happened after the timeline's window (or, by a skewed clock, before it).
    events_outside_window: int = 0
    domains: list[DomainRow] = field(default_factory=list)
    # Clicks through /c/ per link (click tracking on): how often, never by whom.
    links: list[LinkRow] = field(default_factory=list)

    @property
    def rates(self) -> dict[str, float | None]:
        """Each count (but sent) over the messages sent; None when nothing was sent or not measured."""
        sent = self.counts["sent"] or 0
        return {
            key: (round(value / sent, 4) if sent and value is not None else None)
            for key, value in self.counts.items()
            if key != "sent"
        }


# ---- time buckets, written for each database ------------------------------------------------


def _bucket(conn: Connection, column: Any, unit: str) -> ColumnElement[str]:
    """``column`` cut to the minute or hour, as text ``YYYY-MM-DDTHH:MM`` / ``YYYY-MM-DDTHH`` in UTC."""
    if conn.dialect.name == "postgresql":
        pattern = 'YYYY-MM-DD"T"HH24:MI' if unit == "minute" else 'YYYY-MM-DD"T"HH24'
        return func.to_char(func.timezone("UTC", column), pattern)
    # SQLite keeps the UTC time as text, "YYYY-MM-DD HH:MM:SS.ffffff": its first characters are
    # the bucket (a third of strftime's cost over 300,000 events). The space is read back as the T.
    return func.substr(column, 1, 16 if unit == "minute" else 13)


def _parse_bucket(text: str) -> datetime:
    if len(text) == 13:  # an hour
        text += ":00"
    return datetime.strptime(text.replace(" ", "T"), "%Y-%m-%dT%H:%M").replace(tzinfo=UTC)


def _domain(conn: Connection, email: Any) -> ColumnElement[str]:
    """The part of the address after the @ (addresses are stored normalised, in lower case)."""
    if conn.dialect.name == "postgresql":
        part: ColumnElement[str] = func.split_part(email, "@", 2)
    else:
        part = func.substr(email, func.instr(email, "@") + 1)
    return func.coalesce(part, literal(ERASED))


def _event_time() -> ColumnElement[Any]:
    # Some events carry no time of their own: when we received them is the next best.
    return func.coalesce(events.c.occurred_at, events.c.received_at)


# ---- the report -----------------------------------------------------------------------------


def find_sends(
    conn: Connection, issue: str, list_name: str | None, *, known_issue: bool = True
) -> list[SendRow]:
    """The sends the report covers; NotFound (saying what to do) when there are none."""
    if list_name is not None:
        send = get_send(conn, issue, find_list_id(conn, list_name))
        found = [send] if send else []
    else:
        found = sends_of_issue(conn, issue)
    found = [send for send in found if send.status != "cancelled"]
    if found:
        return found
    if not known_issue:
        raise NotFound(
            f"no issue named {issue!r}: there is no such file in the issues folder and nothing was sent "
            "under that name — check the name (the file name without .md, e.g. 2019-12-20-tak-for-et-godt-2019)"
        )
    where = f" to list {list_name!r}" if list_name else ""
    raise NotFound(
        f"{issue} has not been sent{where} yet, so there is nothing to report — "
        f"send it first with: newsletter send {issue} --list {list_name or 'NAME'}"
    )


def issue_report(
    engine: Engine,
    issue: str,
    list_name: str | None = None,
    *,
    tracking: TrackingSettings = NO_TRACKING,
    known_issue: bool = True,
    now: datetime | None = None,
) -> IssueReport:
    """Everything ``newsletter report ISSUE`` shows, for the issue's sends (or its send to one list)."""
    with engine.connect() as conn:
        found = find_sends(conn, issue, list_name, known_issue=known_issue)
        send_ids = [send.id for send in found]
        report = IssueReport(
            issue=issue,
            subject=found[-1].subject,
            lists=[send.list_name for send in found],
            providers=sorted({send.provider for send in found}),
            tracking=tracking,
            generated_at=now or datetime.now(UTC),
            ledger=_ledger_counts(conn, send_ids),
            counts={},
        )
        report.domains = _domains(conn, send_ids, tracking)
        report.counts = _totals(report.domains, tracking)
        report.first_sent_at, report.last_sent_at = _send_span(conn, send_ids)
        report.bounces, report.complaints = _listed(conn, send_ids)
        report.send_timeline = _send_timeline(conn, send_ids)
        if report.first_sent_at is not None:
            report.event_timeline, report.events_outside_window = _event_timeline(
                conn, send_ids, report.first_sent_at, tracking
            )
        if tracking.clicks:
            report.links = _link_clicks(conn, issue)
    return report


def _ledger_counts(conn: Connection, send_ids: Sequence[int]) -> dict[str, int]:
    counts = dict.fromkeys(ledger.STATES, 0)
    rows = conn.execute(
        select(deliveries.c.state, func.count())
        .where(deliveries.c.send_id.in_(send_ids))
        .group_by(deliveries.c.state)
    )
    for state, count in rows:
        counts[state] = int(count)
    return counts


def _per_message(send_ids: Sequence[int]) -> Any:
    """One row per message that had events: a 0/1 flag per kind of event, and how many it had.

    Grouped over the events alone (read from ``ix_events_delivery_outcome``, in its order, so
    without a sort), then joined to the messages: a third of the time of grouping the join.
    """
    flags = [func.max(case((events.c.type == outcome, 1), else_=0)).label(outcome) for outcome in OUTCOMES]
    hard = func.max(case((and_(events.c.type == "bounced", events.c.hard == true()), 1), else_=0))
    of_issue = select(deliveries.c.id).where(deliveries.c.send_id.in_(send_ids))
    return (
        select(events.c.delivery_id, *flags, hard.label("hard"), func.count().label("events"))
        .where(events.c.delivery_id.in_(of_issue))
        .group_by(events.c.delivery_id)
        .subquery("per_message")
    )


def _domains(conn: Connection, send_ids: Sequence[int], tracking: TrackingSettings) -> list[DomainRow]:
    """Outcomes per recipient domain, the domains with the most messages sent first."""
    per = _per_message(send_ids)
    sent = or_(deliveries.c.state == "sent", per.c.events > 0)
    domain = _domain(conn, subscribers.c.email).label("domain")
    columns = {
        "sent": func.sum(case((sent, 1), else_=0)),
        **{outcome: func.sum(per.c[outcome]) for outcome in OUTCOMES},
        "bounced_hard": func.sum(per.c.hard),
        "bounced_soft": func.sum(case((and_(per.c.bounced == 1, per.c.hard == 0), 1), else_=0)),
    }
    query = (
        select(domain, *(value.label(key) for key, value in columns.items()))
        .select_from(ledger.DELIVERY_PERSON.outerjoin(per, per.c.delivery_id == deliveries.c.id))
        .where(deliveries.c.send_id.in_(send_ids))
        .group_by(domain)
    )
    rows = []
    for row in conn.execute(query).mappings():
        counts = {key: int(row[key] or 0) for key in COUNT_KEYS}
        if not any(counts.values()):
            continue  # only queued, failed or skipped messages: nothing reached this domain
        rows.append(DomainRow(str(row["domain"]), _measured(counts, tracking)))
    rows.sort(key=lambda r: (-(r.counts["sent"] or 0), r.domain))
    return rows


def _measured(counts: dict[str, int], tracking: TrackingSettings) -> dict[str, Any]:
    """``counts`` with opens / clicks None where they are not measured."""
    shown: dict[str, Any] = dict(counts)
    if not tracking.opens:
        shown["opened"] = None
    if not tracking.clicks:
        shown["clicked"] = None
    return shown


def _totals(domains: Sequence[DomainRow], tracking: TrackingSettings) -> dict[str, int | None]:
    """The issue's counts: the sum of its domains' (a few hundred rows at most, already aggregated)."""
    totals = {key: sum(row.counts[key] or 0 for row in domains) for key in COUNT_KEYS}
    return _measured(totals, tracking)


def _send_span(conn: Connection, send_ids: Sequence[int]) -> tuple[datetime | None, datetime | None]:
    first, last = conn.execute(
        select(func.min(deliveries.c.sent_at), func.max(deliveries.c.sent_at)).where(
            deliveries.c.send_id.in_(send_ids)
        )
    ).one()
    return (ledger.as_utc(first) if first else None, ledger.as_utc(last) if last else None)


def _listed(conn: Connection, send_ids: Sequence[int]) -> tuple[list[Listed], list[Listed]]:
    """Every bounce and every complaint event of the issue's messages, in the order they happened."""
    at = _event_time().label("at")
    query = (
        select(at, events.c.type, subscribers.c.email, events.c.hard, events.c.detail, events.c.provider)
        .select_from(events.join(ledger.DELIVERY_PERSON, deliveries.c.id == events.c.delivery_id))
        .where(deliveries.c.send_id.in_(send_ids), events.c.type.in_(("bounced", "complained")))
        .order_by(at, events.c.id)
    )
    found: dict[str, list[Listed]] = {"bounced": [], "complained": []}
    for row in conn.execute(query):
        found[row.type].append(
            Listed(
                at=ledger.as_utc(row.at) if row.at else None,
                email=row.email or ERASED,
                kind=row.type,
                hard=bool(row.hard) if row.hard is not None and row.type == "bounced" else None,
                reason=row.detail or "",
                provider=row.provider,
            )
        )
    return found["bounced"], found["complained"]


def _send_timeline(conn: Connection, send_ids: Sequence[int]) -> list[tuple[datetime, int]]:
    """Messages handed to the provider per minute (the ledger's ``sent_at``), gaps filled with 0."""
    minute = _bucket(conn, deliveries.c.sent_at, "minute").label("minute")
    rows = conn.execute(
        select(minute, func.count())
        .where(deliveries.c.send_id.in_(send_ids), deliveries.c.sent_at.is_not(None))
        .group_by(minute)
        .order_by(minute)
    ).all()
    counted = {_parse_bucket(text): int(count) for text, count in rows}
    return _filled(counted, timedelta(minutes=1))


def _filled(counted: dict[datetime, int], step: timedelta) -> list[tuple[datetime, int]]:
    if not counted:
        return []
    moment, last = min(counted), max(counted)
    filled = []
    while moment <= last:
        filled.append((moment, counted.get(moment, 0)))
        moment += step
    return filled


def _event_timeline(
    conn: Connection, send_ids: Sequence[int], started: datetime, tracking: TrackingSettings
) -> tuple[list[HourRow], int]:
    """Events per hour and kind over the first :data:`EVENT_WINDOW_HOURS`; and how many fell outside.

    One grouped query over all the issue's events (a few hundred (hour, kind) rows come back);
    the window is applied to those rows, not to the events.
    """
    start = started.replace(minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=EVENT_WINDOW_HOURS)
    hour = _bucket(conn, _event_time(), "hour").label("hour")
    of_issue = select(deliveries.c.id).where(deliveries.c.send_id.in_(send_ids))
    rows = conn.execute(
        select(hour, events.c.type, func.count())
        .where(events.c.delivery_id.in_(of_issue))
        .group_by(hour, events.c.type)
    ).all()
    shown = [kind for kind in OUTCOMES if kind not in ENGAGEMENT or getattr(tracking, _SETTING[kind])]
    by_hour: dict[datetime, dict[str, int]] = {}
    outside = 0
    for text, kind, count in rows:
        moment = _parse_bucket(text)
        if not start <= moment < end:
            outside += int(count)
        elif kind in shown:
            by_hour.setdefault(moment, dict.fromkeys(shown, 0))[kind] = int(count)
    last = max(by_hour) if by_hour else start
    timeline = []
    moment = start
    while moment <= last:
        timeline.append(HourRow(moment, by_hour.get(moment, dict.fromkeys(shown, 0))))
        moment += timedelta(hours=1)
    return timeline, outside


_SETTING = {"opened": "opens", "clicked": "clicks"}


def _link_clicks(conn: Connection, issue: str) -> list[LinkRow]:
    rows = conn.execute(
        select(clicks.c.url, func.count())
        .where(clicks.c.issue == issue)
        .group_by(clicks.c.url)
        .order_by(func.count().desc(), clicks.c.url)
    )
    return [LinkRow(url, int(count)) for url, count in rows]
