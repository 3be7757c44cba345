"""Who may be mailed on a list: streamed, never loaded whole.

A member is mailable when all three hold, checked in SQL:
membership state ``subscribed`` (pending and unsubscribed are out), subscriber
status ``active`` (bounced and complained are out), and the address hash is
not on the suppression list.

:func:`iter_audience` pages by keyset (``subscriber_id > last``) over the
``ix_memberships_list_state`` index, one short read per page, so memory stays
flat whatever the list size and no transaction is held open while the caller
sends (an unsubscribe that arrives mid-send is honoured by the next page and
by :func:`is_mailable` at send time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import CompoundSelect, Connection, Engine, Select, and_, exists, func, select, union
from sqlalchemy.sql.elements import ColumnElement

from newsletter.store.schema import MEMBERSHIP_STATES, NOT_ACTIVE, memberships, subscribers, suppressions


@dataclass(frozen=True)
class AudienceMember:
    subscriber_id: int
    email: str
    name: str | None
    language: str
    email_hash: str


def mailable_conditions(list_id: int) -> list[ColumnElement[bool]]:
    """Who may be mailed on a list, over memberships ⋈ subscribers: the one definition.

    The send plan (``newsletter.send.plan``) and the streamed audience both use it, so
    the rule cannot drift between "who is counted" and "who is planned".
    :func:`count_audience` counts the same people the other way round (all the
    list's subscribed members, less :func:`barred_people`); a test holds the two equal.
    """
    not_suppressed = ~exists().where(suppressions.c.email_hash == subscribers.c.email_hash)
    return [
        *_subscribed_to(list_id),
        subscribers.c.status == "active",
        not_suppressed,
    ]


def _subscribed_to(list_id: int) -> list[ColumnElement[bool]]:
    return [memberships.c.list_id == list_id, memberships.c.state == "subscribed"]


def barred_people() -> CompoundSelect:
    """The ids of people no list may mail: status not ``active``, or their address suppressed.

    The complement of the last two of :func:`mailable_conditions`. Few people are in it,
    and both halves are found through an index of their own (``ix_subscribers_not_active``
    holds only people who are not active; the suppression list is keyed by the hash).
    """
    return union(
        select(subscribers.c.id).where(NOT_ACTIVE),  # as ix_subscribers_not_active says it
        select(subscribers.c.id).join(suppressions, suppressions.c.email_hash == subscribers.c.email_hash),
    )


def _audience_query(list_id: int) -> Select:
    return (
        select(
            subscribers.c.id,
            subscribers.c.email,
            subscribers.c.name,
            subscribers.c.language,
            subscribers.c.email_hash,
        )
        .join(memberships, memberships.c.subscriber_id == subscribers.c.id)
        .where(and_(*mailable_conditions(list_id)))
    )


def iter_audience(engine: Engine, list_id: int, chunk_size: int = 1000) -> Iterator[AudienceMember]:
    """Every mailable member of the list, in subscriber id order, ``chunk_size`` rows per query."""
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1")
    last_id = 0
    while True:
        query = (
            _audience_query(list_id)
            .where(memberships.c.subscriber_id > last_id)
            .order_by(memberships.c.subscriber_id)
            .limit(chunk_size)
        )
        with engine.connect() as conn:
            page = conn.execute(query).all()
        for row in page:
            yield AudienceMember(
                subscriber_id=row.id,
                email=row.email,
                name=row.name,
                language=row.language,
                email_hash=row.email_hash,
            )
        if len(page) < chunk_size:
            return
        last_id = page[-1].id


def count_audience(conn: Connection, list_id: int) -> int:
    """How many members :func:`iter_audience` would yield right now.

    Counted as the list's subscribed members (from the memberships index alone) less those of
    them in :func:`barred_people`: checking every member one by one costs three to five times as
    much on a list of 100,000 with 3 % barred (about 110 ms against 20 on SQLite and 40 on
    PostgreSQL, on 2 busy cores).
    """
    subscribed = select(func.count()).select_from(memberships).where(*_subscribed_to(list_id))
    barred = subscribed.where(memberships.c.subscriber_id.in_(barred_people()))
    # One statement, so both counts see the same moment.
    return int(conn.execute(select(subscribed.scalar_subquery() - barred.scalar_subquery())).scalar_one())


def is_mailable(conn: Connection, subscriber_id: int, list_id: int) -> bool:
    """Whether this subscriber may be mailed on this list now (re-checked at send time)."""
    query = _audience_query(list_id).where(subscribers.c.id == subscriber_id)
    return conn.execute(query).first() is not None


def membership_counts(conn: Connection, list_id: int) -> dict[str, int]:
    """A list's members by state (pending, subscribed, unsubscribed), and how many are mailable now.

    ``mailable`` is :func:`count_audience`: subscribed members who are also active and not
    suppressed, the number a send would reach.
    """
    query = (
        select(memberships.c.state, func.count())
        .where(memberships.c.list_id == list_id)
        .group_by(memberships.c.state)
    )
    counts = {state: 0 for state in MEMBERSHIP_STATES}
    counts.update({state: int(count) for state, count in conn.execute(query).all()})
    counts["mailable"] = count_audience(conn, list_id)
    return counts
