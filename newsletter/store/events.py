"""Provider events (webhooks) recorded once each, matched to the ledger, and acted on.

A webhook module turns a provider's JSON into :class:`Event` s in the
project's own vocabulary (:data:`~newsletter.store.schema.EVENT_TYPES`) and
hands them to :func:`record_events`. For each event this module:

1. inserts it into ``events`` keyed by (provider, provider event id), doing
   nothing when that key is already there: a replayed webhook changes nothing;
2. matches it to a ``deliveries`` row, first through the ``nl_delivery``
   metadata the sender attached, then through the provider's message id, and
   to a subscriber through that row or the reported address. Ids from the
   payload are only trusted when the row was made for the address the event
   reports: a late event about an erased person never reaches whoever holds
   their old id;
3. applies its effect on the subscriber: a hard bounce marks the address
   bounced, a complaint marks it complained (both suppress it on every list),
   an unsubscribe ends the membership of the list that was mailed
   (``source="provider"``).

Functions take a :class:`sqlalchemy.Connection`; the caller owns the
transaction, so an event and its effect are stored together or not at all.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.dialects import postgresql, sqlite

from newsletter.store import subscribers as subscriber_store
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.lists import utcnow
from newsletter.store.redact import placeholder, redact
from newsletter.store.schema import EVENT_TYPES, deliveries, events, sends, subscribers, webhook_tokens

log = logging.getLogger(__name__)

# The correlation keys the sender attaches to every message (metadata, custom args, tags).
META_ISSUE = "nl_issue"
META_SUBSCRIBER = "nl_subscriber"
META_DELIVERY = "nl_delivery"
_DETAIL_LIMIT = 1000


@dataclass(frozen=True)
class Event:
    """One thing a provider reported about one message, in the project's words."""

    provider: str
    provider_event_id: str
    type: str  # one of EVENT_TYPES
    raw: Mapping[str, Any]
    hard: bool | None = None  # bounces only: True for a permanent failure
    email: str | None = None
    message_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    occurred_at: datetime | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        if self.type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {self.type!r}; known: {', '.join(EVENT_TYPES)}")


@dataclass
class RecordResult:
    stored: int = 0
    replayed: int = 0
    effects: list[str] = field(default_factory=list)


def record_events(conn: Connection, batch: Iterable[Event]) -> RecordResult:
    """Store every new event in ``batch`` and apply its effect; replays are counted, not stored."""
    result = RecordResult()
    for event in batch:
        effect = record_event(conn, event)
        if effect is None:
            result.replayed += 1
        else:
            result.stored += 1
            if effect:
                result.effects.append(effect)
    return result


def record_event(conn: Connection, event: Event) -> str | None:
    """Store ``event`` once. None for a replay; else the effect applied ('' for none)."""
    recipient = _recipient(event)
    recipient_hash = recipient[1] if recipient else None
    delivery = _match_delivery(conn, event, recipient_hash)
    subscriber_id = _match_subscriber(conn, delivery, recipient_hash)
    event = _without_address(event, recipient)
    values = {
        "provider": event.provider,
        "provider_event_id": _text(event.provider_event_id)[:255],
        "type": event.type,
        "hard": event.hard,
        "delivery_id": delivery["id"] if delivery else None,
        "subscriber_id": subscriber_id,
        "occurred_at": event.occurred_at,
        "received_at": utcnow(),
        "detail": event.detail[:_DETAIL_LIMIT],
        "raw": dict(event.raw),
    }
    if not _insert_once(conn, values):
        return None
    return _apply_effect(conn, event, subscriber_id, delivery)


def _text(value: str) -> str:
    # PostgreSQL text cannot hold NUL; no provider means anything by one.
    return value.replace("\x00", "")


def _without_address(event: Event, recipient: tuple[str, str] | None) -> Event:
    """``event`` with the recipient's address, in any spelling, replaced by its hash in the raw
    payload and the detail: nothing readable outlives an erase, and erase finds the rows by hash."""
    detail = _text(event.detail)
    if recipient is None:
        return dataclasses.replace(event, detail=detail)
    address, hashed = recipient
    stand_in = placeholder(hashed)
    return dataclasses.replace(
        event, raw=redact(dict(event.raw), address, stand_in), detail=redact(detail, address, stand_in)
    )


# Statements built once (a webhook service runs them for every event): SQLAlchemy then reuses
# their compiled form without rebuilding and re-keying them per request.
# RETURNING tells for sure whether a row went in (rowcount is -1 on some PostgreSQL paths).
_INSERT_ONCE: dict[str, Any] = {
    name: dialect_insert(events)
    .on_conflict_do_nothing(index_elements=["provider", "provider_event_id"])
    .returning(events.c.id)
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_DELIVERY_COLUMNS = (
    select(
        deliveries.c.id,
        deliveries.c.subscriber_id,
        deliveries.c.email_hash,
        deliveries.c.issue,
        sends.c.list_id,
        subscribers.c.email_hash.label("subscriber_hash"),
    )
    .join(sends, sends.c.id == deliveries.c.send_id)
    .outerjoin(subscribers, subscribers.c.id == deliveries.c.subscriber_id)
)
_DELIVERY_BY_ID = _DELIVERY_COLUMNS.where(deliveries.c.id == bindparam("b_id"))
# Mailgun gives one message id to a whole batch (SendGrid's X-Message-Id likewise): a message id
# names one ledger row only together with the recipient, or when it matches a single row.
_DELIVERY_BY_MESSAGE_ID = _DELIVERY_COLUMNS.where(
    deliveries.c.message_id.in_(bindparam("b_message_ids", expanding=True))
).limit(2)
_DELIVERY_BY_MESSAGE_ID_AND_HASH = _DELIVERY_COLUMNS.where(
    deliveries.c.message_id.in_(bindparam("b_message_ids", expanding=True)),
    deliveries.c.email_hash == bindparam("b_hash"),
).limit(2)


_CLAIM_TOKEN: dict[str, Any] = {
    name: dialect_insert(webhook_tokens)
    .on_conflict_do_nothing(index_elements=["provider", "token_hash"])
    .returning(webhook_tokens.c.token_hash)
    for name, dialect_insert in (("postgresql", postgresql.insert), ("sqlite", sqlite.insert))
}
_PRUNE_TOKENS = webhook_tokens.delete().where(webhook_tokens.c.signed_at < bindparam("b_before"))
_TOKEN_BODY = select(webhook_tokens.c.body_hash).where(
    webhook_tokens.c.provider == bindparam("b_provider"), webhook_tokens.c.token_hash == bindparam("b_token")
)
# Instances whose clocks differ a little must not prune a token another one still accepts.
_CLOCK_SKEW = timedelta(minutes=1)


def claim_token(
    conn: Connection, provider: str, token: str, signed_at: datetime, window: timedelta, body: bytes
) -> bool:
    """Use ``token`` once, for one request body: False when it came before with another body.

    True the first time, and again for a byte-identical request (the provider retrying after a
    lost answer: its events are then found already recorded); False for a token seen with any
    other body, from any thread, process or restart. The primary key decides: of two concurrent
    claims exactly one inserts its row, the other waits for it (PostgreSQL) or for the write lock
    (SQLite) and then finds it. Tokens signed more than ``window`` ago are pruned: a request
    carrying one is refused as stale anyway. Claim in the same transaction that stores the
    events, so a failed write does not burn it.
    """
    conn.execute(_PRUNE_TOKENS, {"b_before": utcnow() - window - _CLOCK_SKEW})
    token_hash = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    body_hash = hashlib.sha256(body).hexdigest()
    values = {"provider": provider, "token_hash": token_hash, "signed_at": signed_at, "body_hash": body_hash}
    if conn.execute(_CLAIM_TOKEN[conn.dialect.name], values).first() is not None:
        return True
    earlier = conn.execute(_TOKEN_BODY, {"b_provider": provider, "b_token": token_hash}).scalar_one_or_none()
    return earlier is not None and hmac.compare_digest(earlier, body_hash)


def _insert_once(conn: Connection, values: dict[str, Any]) -> bool:
    """Insert unless (provider, provider_event_id) exists; True when a row was written."""
    statement = _INSERT_ONCE.get(conn.dialect.name)
    if statement is not None:
        return conn.execute(statement, values).first() is not None
    # Another dialect (the project supports SQLite and PostgreSQL only): look, then insert.
    exists = conn.execute(
        select(events.c.id).where(
            events.c.provider == values["provider"],
            events.c.provider_event_id == values["provider_event_id"],
        )
    ).first()
    if exists:  # pragma: no cover
        return False
    conn.execute(events.insert().values(**values))  # pragma: no cover
    return True  # pragma: no cover


def _as_int(value: object) -> int | None:
    """A database id from the sender's metadata; None for anything else (even a 30-digit number)."""
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _recipient(event: Event) -> tuple[str, str] | None:
    """The address the provider says the event is about, normalised, and its hash; None when it
    names none (or nothing that is an address)."""
    if not event.email:
        return None
    try:
        address = normalise(event.email)
    except InvalidAddress:
        return None
    return address, email_hash(address)


def _match_delivery(conn: Connection, event: Event, recipient: str | None) -> dict[str, Any] | None:
    """The ledger row this event is about, or None when it cannot be told.

    Ids in the metadata come from the payload: a row they name counts only if it was made for
    the address the event reports (when it reports one).
    """
    delivery_id = _as_int(event.metadata.get(META_DELIVERY))
    if delivery_id is not None:
        row = conn.execute(_DELIVERY_BY_ID, {"b_id": delivery_id}).mappings().first()
        if row is not None and recipient in (None, row["email_hash"]):
            return dict(row)
    if event.message_id:
        # Some providers hand back the Message-ID with angle brackets, some without.
        candidates = [event.message_id, f"<{event.message_id.strip('<>')}>", event.message_id.strip("<>")]
        if recipient is None:
            rows = conn.execute(_DELIVERY_BY_MESSAGE_ID, {"b_message_ids": candidates}).mappings().all()
        else:
            values = {"b_message_ids": candidates, "b_hash": recipient}
            rows = conn.execute(_DELIVERY_BY_MESSAGE_ID_AND_HASH, values).mappings().all()
        if len(rows) == 1:
            return dict(rows[0])
    return None


def _match_subscriber(
    conn: Connection, delivery: Mapping[str, Any] | None, recipient: str | None
) -> int | None:
    """The person the event is about: the ledger row's own subscriber, else the reported address.

    A subscriber id from the payload (``nl_subscriber``) is never enough on its own: after an
    erase the id could name someone else. A ledger row's subscriber counts only while it still
    has the address the row was made for.
    """
    if (
        delivery
        and delivery["subscriber_id"] is not None
        and delivery["subscriber_hash"] == delivery["email_hash"]
    ):
        return int(delivery["subscriber_id"])
    if recipient is not None:
        row = subscriber_store.get_subscriber_by_hash(conn, recipient)
        if row is not None:
            return int(row.id)
    return None


def _apply_effect(
    conn: Connection, event: Event, subscriber_id: int | None, delivery: Mapping[str, Any] | None
) -> str:
    detail = f"{event.provider}: {event.detail}".strip().rstrip(":")[:_DETAIL_LIMIT]
    if event.type == "bounced" and event.hard:
        if subscriber_id is not None:
            subscriber_store.mark_bounced(conn, subscriber_id, detail)
            return f"subscriber {subscriber_id} marked bounced"
        return _suppress_unknown(conn, event, "bounced", detail)
    if event.type == "complained":
        if subscriber_id is not None:
            subscriber_store.mark_complained(conn, subscriber_id, detail)
            return f"subscriber {subscriber_id} marked complained"
        return _suppress_unknown(conn, event, "complained", detail)
    if event.type == "unsubscribed" and subscriber_id is not None:
        # The list of the message the person acted on; when unknown, every list.
        list_id = delivery["list_id"] if delivery else None
        subscriber_store.unsubscribe(conn, subscriber_id, list_id, source="provider")
        return f"subscriber {subscriber_id} unsubscribed"
    return ""


def _suppress_unknown(conn: Connection, event: Event, reason: str, detail: str) -> str:
    """An address we do not know (erased, or never imported) still must never be mailed."""
    if not event.email:
        return ""
    try:
        subscriber_store.suppress(conn, event.email, reason, detail)
    except InvalidAddress:
        return ""
    return f"address suppressed ({reason})"
