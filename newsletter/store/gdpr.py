"""What the store holds about one person (GDPR art. 15), erasing it (art. 17), and their history.

Erasure deletes the profile, the memberships, the consent log and the
provider events about the person, and detaches the ledger rows from them.
What stays is not readable as an address: the SHA-256 hash on the
suppression list (reason ``erased``), so a later import of an old spreadsheet
can never mail them again, and the hash on each ledger row, so an issue that
was already sent is not sent twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, Text, cast, func, or_, select

from newsletter.errors import NotFound
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.lists import aware
from newsletter.store.redact import mentions, needles, placeholder
from newsletter.store.schema import (
    consent_log,
    deliveries,
    events,
    lists,
    memberships,
    subscribers,
    suppressions,
)
from newsletter.store.subscribers import SubscriberRow, get_subscriber_by_hash, suppress


def _hash_or_fail(email: str) -> tuple[str, str]:
    try:
        address = normalise(email)
    except InvalidAddress as exc:
        raise NotFound(f"{exc} — give the address exactly as it was subscribed") from None
    return address, email_hash(address)


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return aware(value).isoformat()
    return value


def _records(conn: Connection, query: Any) -> list[dict[str, Any]]:
    return [{key: _json_value(value) for key, value in row._mapping.items()} for row in conn.execute(query)]


def _delivery_filter(subscriber_id: int | None, hashed: str) -> Any:
    if subscriber_id is None:
        return deliveries.c.email_hash == hashed
    return or_(deliveries.c.subscriber_id == subscriber_id, deliveries.c.email_hash == hashed)


def _linked_events(subscriber_id: int | None, hashed: str) -> ColumnElement[bool]:
    """Events the store linked to the person: to them, or to a ledger row of theirs."""
    their_deliveries = select(deliveries.c.id).where(_delivery_filter(subscriber_id, hashed))
    linked: list[ColumnElement[bool]] = [events.c.delivery_id.in_(their_deliveries)]
    if subscriber_id is not None:
        linked.append(events.c.subscriber_id == subscriber_id)
    return or_(*linked)


def _event_ids(conn: Connection, subscriber_id: int | None, hashed: str, address: str) -> list[int]:
    """Events linked to the person, or whose raw provider payload quotes the address.

    A payload may spell the address in any case, URL-, JSON-, HTML- or base64-encoded (older
    rows; new ones hold only its hash, see store.events). The database narrows the rows with
    plain substrings, then :func:`~newsletter.store.redact.mentions` decides on each, so that a
    near miss never takes someone else's event.
    """
    found = set(conn.execute(select(events.c.id).where(_linked_events(subscriber_id, hashed))).scalars())
    raw_text = cast(events.c.raw, Text)
    stand_in = placeholder(hashed)
    quoted = [raw_text.icontains(needle, autoescape=True) for needle in sorted(needles(address) | {hashed})]
    for row in conn.execute(select(events.c.id, events.c.raw).where(or_(*quoted), events.c.id.not_in(found))):
        if stand_in in json.dumps(row.raw, ensure_ascii=False) or mentions(row.raw, address):
            found.add(row.id)
    return sorted(found)


def _in_ids(ids: list[int]) -> Any:
    # An expanding IN: fine for one person's events (hundreds at most).
    return events.c.id.in_(ids)


def _deliveries_query(subscriber_id: int | None, hashed: str) -> Select:
    return select(
        deliveries.c.issue,
        deliveries.c.state,
        deliveries.c.provider,
        deliveries.c.message_id,
        deliveries.c.error,
        deliveries.c.created_at,
        deliveries.c.sent_at,
    ).where(_delivery_filter(subscriber_id, hashed))


def _consent_query(subscriber_id: int) -> Select:
    return (
        select(
            lists.c.name.label("list"),
            consent_log.c.action,
            consent_log.c.method,
            consent_log.c.source,
            consent_log.c.consent_text,
            consent_log.c.ip,
            consent_log.c.at,
        )
        .outerjoin(lists, lists.c.id == consent_log.c.list_id)
        .where(consent_log.c.subscriber_id == subscriber_id)
    )


def export_data(conn: Connection, email: str) -> dict[str, Any]:
    """Everything held about ``email``, as JSON-ready data; NotFound when nothing is."""
    address, hashed = _hash_or_fail(email)
    subscriber = get_subscriber_by_hash(conn, hashed)
    subscriber_id = subscriber.id if subscriber else None
    suppression = _records(
        conn,
        select(suppressions.c.reason, suppressions.c.detail, suppressions.c.created_at).where(
            suppressions.c.email_hash == hashed
        ),
    )
    delivery_rows = _records(conn, _deliveries_query(subscriber_id, hashed).order_by(deliveries.c.id))
    event_rows = _records(
        conn,
        select(
            events.c.provider,
            events.c.type,
            events.c.hard,
            events.c.occurred_at,
            events.c.received_at,
            events.c.detail,
            events.c.raw,
        )
        .where(_in_ids(_event_ids(conn, subscriber_id, hashed, address)))
        .order_by(events.c.id),
    )
    if subscriber is None and not (suppression or delivery_rows or event_rows):
        raise NotFound(f"no data is held about {address}")
    result: dict[str, Any] = {"email": address, "profile": None, "memberships": [], "consent_log": []}
    if subscriber is not None:
        result["profile"] = {
            "email": subscriber.email,
            "name": subscriber.name,
            "language": subscriber.language,
            "attributes": subscriber.attributes,
            "status": subscriber.status,
            "created_at": subscriber.created_at.isoformat(),
            "updated_at": subscriber.updated_at.isoformat(),
        }
        result["memberships"] = _records(
            conn,
            select(
                lists.c.name.label("list"),
                lists.c.title,
                memberships.c.state,
                memberships.c.created_at,
                memberships.c.updated_at,
                memberships.c.unsubscribed_at,
                memberships.c.unsubscribe_source,
            )
            .join(lists, lists.c.id == memberships.c.list_id)
            .where(memberships.c.subscriber_id == subscriber.id)
            .order_by(lists.c.name),
        )
        result["consent_log"] = _records(conn, _consent_query(subscriber.id).order_by(consent_log.c.id))
    result["suppression"] = suppression[0] if suppression else None
    result["deliveries"] = delivery_rows
    result["events"] = event_rows
    return result


@dataclass(frozen=True)
class Erasure:
    address: str
    had_profile: bool
    memberships: int
    consent_rows: int
    events: int
    deliveries_detached: int


def erase(conn: Connection, email: str) -> Erasure:
    """Delete what is held about ``email``, keep only hashes; NotFound when nothing is held."""
    address, hashed = _hash_or_fail(email)
    subscriber = get_subscriber_by_hash(conn, hashed)
    subscriber_id = subscriber.id if subscriber else None
    event_ids = _event_ids(conn, subscriber_id, hashed, address)
    held = (
        subscriber is not None
        or event_ids
        or conn.execute(select(suppressions.c.email_hash).where(suppressions.c.email_hash == hashed)).first()
        or conn.execute(select(deliveries.c.id).where(_delivery_filter(None, hashed)).limit(1)).first()
    )
    if not held:
        raise NotFound(f"no data is held about {address} — nothing erased; check the spelling")
    removed_events = conn.execute(events.delete().where(_in_ids(event_ids))).rowcount
    # The ledger keeps its hash (exactly-once) but loses the link and any text quoting the address.
    detached = conn.execute(
        deliveries.update()
        .where(_delivery_filter(subscriber_id, hashed))
        .values(subscriber_id=None, error=None)
    ).rowcount
    removed_memberships = removed_consent = 0
    if subscriber_id is not None:
        removed_memberships = conn.execute(
            memberships.delete().where(memberships.c.subscriber_id == subscriber_id)
        ).rowcount
        removed_consent = conn.execute(
            consent_log.delete().where(consent_log.c.subscriber_id == subscriber_id)
        ).rowcount
        conn.execute(subscribers.delete().where(subscribers.c.id == subscriber_id))
    suppress(conn, hashed, "erased")
    return Erasure(
        address=address,
        had_profile=subscriber is not None,
        memberships=removed_memberships,
        consent_rows=removed_consent,
        events=removed_events,
        deliveries_detached=detached,
    )


# --- one person's history, for their page in the workspace -----------------------------------


@dataclass(frozen=True)
class ConsentEntry:
    at: datetime
    list_name: str | None  # None: the list was deleted since
    action: str  # subscribe | confirm | resubscribe | unsubscribe
    method: str
    source: str
    consent_text: str
    ip: str | None


@dataclass(frozen=True)
class PersonEvent:
    at: datetime  # when the provider says it happened, else when it was received
    type: str
    hard: bool | None
    provider: str
    issue: str | None  # the issue of the ledger row it was matched to
    detail: str


@dataclass(frozen=True)
class PersonDelivery:
    issue: str
    state: str
    provider: str | None
    created_at: datetime
    sent_at: datetime | None


def consent_history(conn: Connection, subscriber: SubscriberRow) -> list[ConsentEntry]:
    """Every consent-log row of the person, newest first (the same rows :func:`export_data` gives)."""
    query = _consent_query(subscriber.id).order_by(consent_log.c.id.desc())
    return [
        ConsentEntry(
            at=aware(row.at),
            list_name=row.list,
            action=row.action,
            method=row.method,
            source=row.source,
            consent_text=row.consent_text,
            ip=row.ip,
        )
        for row in conn.execute(query)
    ]


def recent_events(conn: Connection, subscriber: SubscriberRow, limit: int = 50) -> list[PersonEvent]:
    """The newest ``limit`` provider events linked to the person (delivered, bounced, complained …).

    Only linked events: :func:`export_data` and :func:`erase` also search raw payloads for the
    address, a read of the whole events table that a page view should not cost.
    """
    when = func.coalesce(events.c.occurred_at, events.c.received_at)
    query = (
        select(
            when.label("at"),
            events.c.type,
            events.c.hard,
            events.c.provider,
            deliveries.c.issue,
            events.c.detail,
        )
        .outerjoin(deliveries, deliveries.c.id == events.c.delivery_id)
        .where(_linked_events(subscriber.id, subscriber.email_hash))
        .order_by(when.desc(), events.c.id.desc())
        .limit(limit)
    )
    return [
        PersonEvent(
            at=aware(row.at),
            type=row.type,
            hard=row.hard,
            provider=row.provider,
            issue=row.issue,
            detail=row.detail,
        )
        for row in conn.execute(query)
    ]


def recent_deliveries(conn: Connection, subscriber: SubscriberRow, limit: int = 20) -> list[PersonDelivery]:
    """The newest ``limit`` ledger rows for the person: which issues were sent to them, and how it went."""
    query = (
        _deliveries_query(subscriber.id, subscriber.email_hash).order_by(deliveries.c.id.desc()).limit(limit)
    )
    return [
        PersonDelivery(
            issue=row.issue,
            state=row.state,
            provider=row.provider,
            created_at=aware(row.created_at),
            sent_at=aware(row.sent_at) if row.sent_at else None,
        )
        for row in conn.execute(query)
    ]
