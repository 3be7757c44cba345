"""Subscribers, their list memberships, the consent log and the suppression list.

Functions take a :class:`sqlalchemy.Connection`; the caller owns the
transaction. The rules they keep, whoever calls them (CLI, import, web):

- A subscriber is found by the hash of the normalised address, so
  ``Jens@Firma.DK`` and `` jens@firma.dk`` are one person.
- Every change of a membership (subscribe, confirm, resubscribe, unsubscribe)
  writes one ``consent_log`` row saying when, how, from where and which text
  the person saw. Calls that change nothing write nothing.
- An address on the suppression list (bounced, complained, erased, …) or a
  membership that was unsubscribed is never subscribed again by
  :func:`add_subscriber`, unless the caller passes ``resubscribe=True`` with
  a consent text, which is then logged as action ``resubscribe``.
- :func:`set_pending` (web double opt-in) silently does nothing for a
  suppressed address, so the sign-up form cannot be used to learn who is on
  the list.

Membership changes: ``pending`` → ``subscribed`` (confirm), any →
``unsubscribed``; global status ``bounced`` / ``complained`` plus a
suppression entry come from provider events.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, Row, bindparam, select

from newsletter.errors import StoreError
from newsletter.safe_text import header_text_problem
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.lists import ListRow, aware, get_list, get_list_by_id, utcnow
from newsletter.store.schema import (
    CONSENT_METHODS,
    consent_log,
    lists,
    memberships,
    new_link_key,
    subscribers,
    suppressions,
)

# Suppression lives in its own module; the names stay importable from here (the contract).
from newsletter.store.suppression import (  # noqa: F401
    is_suppressed,
    mark_bounced,
    mark_complained,
    suppress,
    suppression_reason,
)
from newsletter.tokens import LinkOwner

Outcome = Literal["added", "updated", "unchanged"]

# How an unsubscribe arrived → the consent-log method it is recorded under.
_METHOD_OF_UNSUBSCRIBE_SOURCE = {
    "link": "form",
    "one-click": "form",
    "preferences": "form",
    "provider": "api",
    "import": "import",
    "cli": "manual",
    "workspace": "manual",
}


class SubscriptionRefused(StoreError):
    """The address unsubscribed or is suppressed; adding it again needs fresh consent."""


@dataclass(frozen=True)
class SubscriberRow:
    id: int
    email: str
    email_hash: str
    name: str | None
    language: str
    attributes: dict[str, Any]
    status: str
    created_at: datetime
    updated_at: datetime
    link_key: str
    v1_links: bool = False

    @property
    def link_owner(self) -> LinkOwner:
        """What the links made for this person carry (see :mod:`newsletter.links`)."""
        return LinkOwner(self.id, self.link_key)


def _subscriber(row: Row) -> SubscriberRow:
    return SubscriberRow(
        id=row.id,
        email=row.email,
        email_hash=row.email_hash,
        name=row.name,
        language=row.language,
        attributes=dict(row.attributes or {}),
        status=row.status,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
        link_key=row.link_key,
        v1_links=bool(row.v1_links),
    )


def get_subscriber(conn: Connection, email: str) -> SubscriberRow | None:
    """The subscriber with this address (any case, any surrounding space), or None."""
    try:
        key = email_hash(normalise(email))
    except InvalidAddress:
        return None
    return get_subscriber_by_hash(conn, key)


def get_subscriber_by_hash(conn: Connection, hashed: str) -> SubscriberRow | None:
    row = conn.execute(select(subscribers).where(subscribers.c.email_hash == hashed)).first()
    return _subscriber(row) if row else None


def get_subscriber_by_id(conn: Connection, subscriber_id: int) -> SubscriberRow | None:
    row = conn.execute(select(subscribers).where(subscribers.c.id == subscriber_id)).first()
    return _subscriber(row) if row else None


def _link_fits(row_key: str, v1_links: bool, link_key: str | None) -> bool:
    """The rule for every personal link: the key it carries is the person's own; a link without
    a key (token version 1, mailed before revision 0004) counts only for people from then."""
    if link_key is None:
        return bool(v1_links)
    return hmac.compare_digest(row_key, link_key)


def subscriber_for_link(conn: Connection, subscriber_id: int, link_key: str | None) -> SubscriberRow | None:
    """The person a signed link was made for, or None when that person no longer exists.

    The id finds the row; the key the link carries must be the row's own, so a link never
    acts on someone who got the id later.
    """
    found = get_subscriber_by_id(conn, subscriber_id)
    if found is None or not _link_fits(found.link_key, found.v1_links, link_key):
        return None
    return found


# Built once: the one-click unsubscribe runs it for every request.
_LINK_HOLDER = select(subscribers.c.link_key, subscribers.c.v1_links).where(
    subscribers.c.id == bindparam("b_id")
)


def link_holder_id(conn: Connection, subscriber_id: int, link_key: str | None) -> int | None:
    """:func:`subscriber_for_link` for a caller that needs only the id (one query, two columns)."""
    row = conn.execute(_LINK_HOLDER, {"b_id": subscriber_id}).first()
    if row is None or not _link_fits(row.link_key, row.v1_links, link_key):
        return None
    return subscriber_id


def membership_state(conn: Connection, subscriber_id: int, list_id: int) -> str | None:
    query = select(memberships.c.state).where(
        memberships.c.subscriber_id == subscriber_id, memberships.c.list_id == list_id
    )
    return conn.execute(query).scalar_one_or_none()


def memberships_of(conn: Connection, subscriber_id: int) -> list[tuple[ListRow, str]]:
    """Every list the subscriber has a membership on, with its state, by list name."""
    query = (
        select(lists.c.id, memberships.c.state)
        .join(memberships, memberships.c.list_id == lists.c.id)
        .where(memberships.c.subscriber_id == subscriber_id)
        .order_by(lists.c.name)
    )
    return [(get_list_by_id(conn, list_id), state) for list_id, state in conn.execute(query).all()]


def check_method(method: str) -> str:
    if method not in CONSENT_METHODS:
        raise StoreError(f"consent method {method!r} is not one of: {', '.join(CONSENT_METHODS)}")
    return method


def log_consent(
    conn: Connection,
    subscriber_id: int,
    list_id: int | None,
    action: str,
    *,
    method: str,
    source: str = "",
    consent_text: str = "",
    ip: str | None = None,
) -> None:
    conn.execute(
        consent_log.insert().values(
            subscriber_id=subscriber_id,
            list_id=list_id,
            action=action,
            method=check_method(method),
            source=source or "",
            consent_text=consent_text or "",
            ip=ip,
            at=utcnow(),
        )
    )


# --- subscribing -------------------------------------------------------------------------


def _check_name(name: str | None) -> None:
    """A name becomes the display name in the To: header: no line breaks or control characters."""
    problem = header_text_problem(name or "")
    if problem is not None:
        raise StoreError(f"name {name!r} {problem} — give the name on one line, as plain text")


def _insert_subscriber(
    conn: Connection,
    address: str,
    hashed: str,
    name: str | None,
    language: str,
    attributes: dict[str, Any] | None,
) -> SubscriberRow:
    _check_name(name)
    now = utcnow()
    values = {
        "email": address,
        "email_hash": hashed,
        "name": name or None,
        "language": language,
        "attributes": dict(attributes or {}),
        "status": "active",
        "created_at": now,
        "updated_at": now,
        "link_key": new_link_key(),
        "v1_links": False,
    }
    new_id = conn.execute(subscribers.insert().values(**values).returning(subscribers.c.id)).scalar_one()
    return SubscriberRow(id=new_id, **values)  # type: ignore[arg-type]


def _update_profile(
    conn: Connection,
    current: SubscriberRow,
    name: str | None,
    language: str | None,
    attributes: dict[str, Any] | None,
) -> SubscriberRow:
    """Apply the given (non-empty) profile fields; attributes are merged, not replaced."""
    _check_name(name)
    changes: dict[str, Any] = {}
    if name and name != current.name:
        changes["name"] = name
    if language and language != current.language:
        changes["language"] = language
    if attributes:
        merged = {**current.attributes, **attributes}
        if merged != current.attributes:
            changes["attributes"] = merged
    if not changes:
        return current
    changes["updated_at"] = utcnow()
    conn.execute(subscribers.update().where(subscribers.c.id == current.id).values(**changes))
    return SubscriberRow(**{**current.__dict__, **changes})


def _set_membership(conn: Connection, subscriber_id: int, list_id: int, state: str, *, existed: bool) -> None:
    now = utcnow()
    if existed:
        conn.execute(
            memberships.update()
            .where(memberships.c.subscriber_id == subscriber_id, memberships.c.list_id == list_id)
            .values(state=state, updated_at=now, unsubscribed_at=None, unsubscribe_source=None)
        )
    else:
        conn.execute(
            memberships.insert().values(
                subscriber_id=subscriber_id, list_id=list_id, state=state, created_at=now, updated_at=now
            )
        )


def refusal_reason(suppressed_as: str | None, status: str | None, state: str | None) -> str | None:
    """Why an address may not be (re)subscribed without fresh consent, or None."""
    if suppressed_as:
        return f"is on the suppression list ({suppressed_as})"
    if status and status != "active":
        return f"is marked {status}"
    if state == "unsubscribed":
        return "unsubscribed from this list"
    return None


def add_subscriber(
    conn: Connection,
    email: str,
    list_name: str,
    *,
    name: str | None = None,
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
    state: str = "subscribed",
    method: str = "manual",
    source: str = "",
    consent_text: str = "",
    ip: str | None = None,
    resubscribe: bool = False,
) -> SubscriberRow:
    """Create or update a subscriber and their membership of ``list_name``.

    Raises :class:`InvalidAddress` for a bad address, :class:`NotFound` for an
    unknown list and :class:`SubscriptionRefused` for an address that
    unsubscribed or is suppressed (unless ``resubscribe`` with ``consent_text``).
    """
    subscriber, _ = subscribe(
        conn,
        email,
        get_list(conn, list_name),
        name=name,
        language=language,
        attributes=attributes,
        state=state,
        method=method,
        source=source,
        consent_text=consent_text,
        ip=ip,
        resubscribe=resubscribe,
    )
    return subscriber


def subscribe(
    conn: Connection,
    email: str,
    the_list: ListRow,
    *,
    name: str | None = None,
    language: str | None = None,
    attributes: dict[str, Any] | None = None,
    state: str = "subscribed",
    method: str = "manual",
    source: str = "",
    consent_text: str = "",
    ip: str | None = None,
    resubscribe: bool = False,
) -> tuple[SubscriberRow, Outcome]:
    """:func:`add_subscriber` for a list already looked up, also saying what changed."""
    if state not in ("subscribed", "pending"):
        raise StoreError(f"a new membership is 'subscribed' or 'pending', not {state!r}")
    check_method(method)
    if resubscribe and not consent_text.strip():
        raise StoreError("resubscribing needs a consent note saying when and how the person agreed again")
    address = normalise(email)
    hashed = email_hash(address)
    current = get_subscriber_by_hash(conn, hashed)
    old_state = membership_state(conn, current.id, the_list.id) if current else None
    refused = refusal_reason(suppression_reason(conn, hashed), current.status if current else None, old_state)
    if refused and not resubscribe:
        raise SubscriptionRefused(
            f"{address} {refused} — not added; to add it again pass --resubscribe with "
            "--consent-note saying when and how the person agreed"
        )
    if refused:
        conn.execute(suppressions.delete().where(suppressions.c.email_hash == hashed))

    outcome: Outcome = "unchanged"
    if current is None:
        current = _insert_subscriber(conn, address, hashed, name, language or the_list.language, attributes)
        outcome = "added"
    else:
        updated = _update_profile(conn, current, name, language, attributes)
        if refused and updated.status != "active":
            conn.execute(subscribers.update().where(subscribers.c.id == current.id).values(status="active"))
            updated = SubscriberRow(**{**updated.__dict__, "status": "active"})
        if updated != current:
            outcome = "updated"
        current = updated

    # Never downgrade: adding someone as pending who already confirmed keeps them subscribed.
    new_state = "subscribed" if old_state == "subscribed" else state
    if new_state != old_state or refused:
        if new_state != old_state:
            _set_membership(conn, current.id, the_list.id, new_state, existed=old_state is not None)
        # A lifted suppression is renewed consent even when the membership itself stays.
        log_consent(
            conn,
            current.id,
            the_list.id,
            "resubscribe" if refused else "subscribe",
            method=method,
            source=source,
            consent_text=consent_text or the_list.consent_text,
            ip=ip,
        )
        # Joining a list is "added" even for a known person; any other change is "updated".
        outcome = "added" if old_state is None else "updated"
    return current, outcome


def set_pending(
    conn: Connection,
    email: str,
    list_id: int,
    *,
    name: str | None,
    language: str | None,
    method: str,
    source: str,
    consent_text: str,
    ip: str | None,
) -> SubscriberRow | None:
    """A web sign-up awaiting double opt-in; None (and no change) for a suppressed address.

    An existing profile is not changed: an unconfirmed form must not let anyone
    rename somebody else. A confirmed membership stays confirmed.
    """
    the_list = get_list_by_id(conn, list_id)
    address = normalise(email)
    hashed = email_hash(address)
    if is_suppressed(conn, hashed):
        return None
    current = get_subscriber_by_hash(conn, hashed)
    if current is not None and current.status != "active":
        return None
    if current is None:
        current = _insert_subscriber(conn, address, hashed, name, language or the_list.language, None)
    old_state = membership_state(conn, current.id, list_id)
    if old_state in (None, "unsubscribed"):
        _set_membership(conn, current.id, list_id, "pending", existed=old_state is not None)
        log_consent(
            conn,
            current.id,
            list_id,
            "subscribe",
            method=method,
            source=source,
            consent_text=consent_text,
            ip=ip,
        )
    return current


def confirm(
    conn: Connection,
    subscriber_id: int,
    list_id: int,
    *,
    ip: str | None,
    consent_text: str,
    method: str = "form",
    source: str = "",
) -> bool:
    """Pending → subscribed (double opt-in confirmed). False when there was nothing to confirm."""
    subscriber = get_subscriber_by_id(conn, subscriber_id)
    if subscriber is None or subscriber.status != "active" or is_suppressed(conn, subscriber.email_hash):
        return False
    if membership_state(conn, subscriber_id, list_id) != "pending":
        return False
    _set_membership(conn, subscriber_id, list_id, "subscribed", existed=True)
    log_consent(
        conn,
        subscriber_id,
        list_id,
        "confirm",
        method=method,
        source=source,
        consent_text=consent_text,
        ip=ip,
    )
    return True


def unsubscribe(
    conn: Connection,
    subscriber_id: int,
    list_id: int | None,
    *,
    source: str,
    method: str | None = None,
) -> bool:
    """Unsubscribe from one list (or every list when ``list_id`` is None), at once.

    ``source`` is how it arrived (link, one-click, preferences, provider, import,
    cli); it is kept on the membership and in the consent log. Returns whether
    anything changed: unsubscribing twice is harmless.
    """
    log_method = check_method(method or _METHOD_OF_UNSUBSCRIBE_SOURCE.get(source, "manual"))
    query = select(memberships.c.list_id).where(
        memberships.c.subscriber_id == subscriber_id, memberships.c.state != "unsubscribed"
    )
    if list_id is not None:
        query = query.where(memberships.c.list_id == list_id)
    list_ids = list(conn.execute(query).scalars())
    now = utcnow()
    for each in list_ids:
        conn.execute(
            memberships.update()
            .where(memberships.c.subscriber_id == subscriber_id, memberships.c.list_id == each)
            .values(state="unsubscribed", updated_at=now, unsubscribed_at=now, unsubscribe_source=source[:32])
        )
        log_consent(conn, subscriber_id, each, "unsubscribe", method=log_method, source=source)
    return bool(list_ids)
