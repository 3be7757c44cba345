"""Planning a send: the ``sends`` row and one ``queued`` delivery per audience member.

Planning is one ``INSERT … SELECT`` (100k rows in about a second) and is
idempotent: a member who already has a row for the issue — on this list or
any other — gets no second one, because ``deliveries`` is unique on
(issue, email_hash). The audience is the list's subscribed, active,
unsuppressed members, by the rule :func:`newsletter.store.audience.mailable_conditions` defines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import (
    Connection,
    DateTime,
    Integer,
    String,
    and_,
    exists,
    func,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.sql.elements import ColumnElement

from newsletter.errors import NotFound
from newsletter.send.ledger import SendRow, utcnow
from newsletter.store import audience
from newsletter.store.audience import mailable_conditions
from newsletter.store.schema import deliveries, lists, memberships, sends, subscribers

_MEMBERS = memberships.join(subscribers, subscribers.c.id == memberships.c.subscriber_id)


def find_list_id(conn: Connection, list_name: str) -> int:
    list_id = conn.execute(select(lists.c.id).where(lists.c.name == list_name)).scalar()
    if list_id is None:
        known = ", ".join(conn.execute(select(lists.c.name).order_by(lists.c.name)).scalars()) or "none yet"
        raise NotFound(
            f"list {list_name!r} does not exist (lists: {known}) — create it with: newsletter lists create {list_name}"
        )
    return int(list_id)


def get_send(conn: Connection, issue: str, list_id: int) -> SendRow | None:
    row = conn.execute(
        select(sends, lists.c.name.label("list_name"))
        .select_from(sends.join(lists, lists.c.id == sends.c.list_id))
        .where(sends.c.issue == issue, sends.c.list_id == list_id)
    ).first()
    if row is None:
        return None
    return SendRow(row.id, row.issue, row.list_id, row.list_name, row.subject, row.provider, row.status)


def sends_of_issue(conn: Connection, issue: str) -> list[SendRow]:
    return sends_of_issues(conn, [issue])[issue]


def sends_of_issues(conn: Connection, issues: Sequence[str]) -> dict[str, list[SendRow]]:
    """The sends of each of ``issues`` (oldest first; an issue never sent has none), in one query."""
    found: dict[str, list[SendRow]] = {issue: [] for issue in issues}
    rows = conn.execute(
        select(sends, lists.c.name.label("list_name"))
        .select_from(sends.outerjoin(lists, lists.c.id == sends.c.list_id))
        .where(sends.c.issue.in_(found))
        .order_by(sends.c.id)
    )
    for r in rows:
        found[r.issue].append(
            SendRow(
                r.id, r.issue, r.list_id, r.list_name or "(deleted list)", r.subject, r.provider, r.status
            )
        )
    return found


@dataclass(frozen=True)
class AudienceCount:
    """How a list's audience relates to what the ledger already holds for an issue."""

    mailable: int  # subscribed, active, not suppressed
    already_planned: int  # of those, rows that exist for this issue (this list or another)

    @property
    def new(self) -> int:
        return self.mailable - self.already_planned


def count_audience(conn: Connection, issue: str, list_id: int) -> AudienceCount:
    mailable = audience.count_audience(conn, list_id)
    # An issue nobody has a row for yet (the usual case before its first send) needs no look
    # into the ledger for each member: one probe of its index says so.
    in_ledger = conn.execute(select(deliveries.c.id).where(deliveries.c.issue == issue).limit(1)).first()
    planned = 0
    if in_ledger is not None:
        planned = conn.execute(
            select(func.count())
            .select_from(_MEMBERS)
            .where(*mailable_conditions(list_id), _has_row_for(issue))
        ).scalar_one()
    return AudienceCount(mailable=mailable, already_planned=int(planned))


def _has_row_for(issue: str) -> ColumnElement[bool]:
    return exists().where(
        and_(deliveries.c.issue == issue, deliveries.c.email_hash == subscribers.c.email_hash)
    )


def plan(conn: Connection, *, issue: str, list_id: int, subject: str, provider: str) -> tuple[int, int]:
    """Create the send and a ``queued`` row per new audience member; returns (send_id, rows added).

    Idempotent: re-planning adds only members who have no row for this issue
    yet, on any list — the unique (issue, email_hash) is what makes sure nobody
    gets the same issue twice.
    """
    now = utcnow()
    existing = conn.execute(
        select(sends.c.id).where(sends.c.issue == issue, sends.c.list_id == list_id)
    ).scalar()
    if existing is None:
        send_id = conn.execute(
            insert(sends).values(
                issue=issue,
                list_id=list_id,
                subject=subject,
                provider=provider,
                status="planned",
                created_at=now,
            )
        ).inserted_primary_key
        assert send_id is not None
        send_id = send_id[0]
    else:
        send_id = existing
        conn.execute(update(sends).where(sends.c.id == send_id).values(subject=subject, provider=provider))
    new_rows = (
        select(
            literal(send_id, Integer),
            literal(issue, String),
            subscribers.c.id,
            subscribers.c.email_hash,
            literal("queued", String),
            literal(0, Integer),
            literal(now, DateTime(timezone=True)),
            literal(now, DateTime(timezone=True)),
        )
        .select_from(_MEMBERS)
        .where(*mailable_conditions(list_id), ~_has_row_for(issue))
        .order_by(subscribers.c.id)
    )
    rows_of_send = select(func.count()).select_from(deliveries).where(deliveries.c.send_id == send_id)
    before = conn.execute(rows_of_send).scalar_one()
    conn.execute(
        insert(deliveries).from_select(
            [
                "send_id",
                "issue",
                "subscriber_id",
                "email_hash",
                "state",
                "attempts",
                "created_at",
                "updated_at",
            ],
            new_rows,
        )
    )
    # Counted, not rowcount: psycopg reports -1 for INSERT … SELECT.
    return int(send_id), int(conn.execute(rows_of_send).scalar_one() - before)
