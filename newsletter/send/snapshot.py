"""What a send sends, frozen when it is planned: the snapshot every batch, resume and worker uses.

Planning a send (:func:`newsletter.send.service.plan_frozen`) stores the issue
as rendered then — subject, HTML and text with their ``%%nl:…%%``
placeholders, sender, reply-to, tags, the issue's language and the send's
``List-Id``/``Feedback-ID`` — with its fingerprint
(:func:`newsletter.message.content_fingerprint`). From then on the send never
reads the issue file again: an edit made mid-send, or between scheduling and
the scheduled time, does not reach the rest of the list. Comparing the
fingerprint with the file's tells the user that the file changed since.

:func:`plan_frozen` is the one way a send is planned: the ledger rows
(:func:`newsletter.send.plan.plan`) and, the first time, the snapshot.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from newsletter.config import Settings
from newsletter.message import Content, content_fingerprint
from newsletter.per_recipient import list_headers
from newsletter.send.ledger import SendRow, as_utc, utcnow
from newsletter.send.plan import find_list_id, get_send, plan
from newsletter.store.lists import ListRow, get_list_by_id
from newsletter.store.schema import send_snapshots


@dataclass(frozen=True)
class Snapshot:
    """One send's frozen content, and when it was frozen."""

    content: Content
    lang: str
    list_headers: Mapping[str, str]
    fingerprint: str
    planned_at: datetime


def freeze(
    conn: Connection, send_id: int, content: Content, *, lang: str, list_headers: Mapping[str, str]
) -> Snapshot:
    """Store ``content`` as what send ``send_id`` sends, replacing a snapshot it had."""
    snapshot = Snapshot(content, lang, dict(list_headers), content_fingerprint(content), utcnow())
    conn.execute(delete(send_snapshots).where(send_snapshots.c.send_id == send_id))
    conn.execute(
        insert(send_snapshots).values(
            send_id=send_id,
            fingerprint=snapshot.fingerprint,
            subject=content.subject,
            html=content.html,
            text=content.text,
            from_email=content.from_email,
            from_name=content.from_name,
            reply_to=content.reply_to,
            tags=list(content.tags),
            lang=lang,
            list_headers=dict(list_headers),
            planned_at=snapshot.planned_at,
        )
    )
    return snapshot


def load(conn: Connection, send_id: int, issue: str) -> Snapshot | None:
    """The snapshot of send ``send_id`` (of ``issue``); None for a send planned before snapshots."""
    row = conn.execute(select(send_snapshots).where(send_snapshots.c.send_id == send_id)).first()
    if row is None:
        return None
    content = Content(
        subject=row.subject,
        html=row.html,
        text=row.text,
        from_email=row.from_email,
        from_name=row.from_name,
        reply_to=row.reply_to,
        issue=issue,
        tags=tuple(row.tags),
    )
    return Snapshot(content, row.lang, dict(row.list_headers), row.fingerprint, as_utc(row.planned_at))


def fingerprints(conn: Connection, send_ids: list[int]) -> dict[int, tuple[str, datetime]]:
    """The fingerprint and planning time of each of ``send_ids`` that has a snapshot (not its text)."""
    if not send_ids:
        return {}
    rows = conn.execute(
        select(send_snapshots.c.send_id, send_snapshots.c.fingerprint, send_snapshots.c.planned_at).where(
            send_snapshots.c.send_id.in_(send_ids)
        )
    )
    return {row.send_id: (row.fingerprint, as_utc(row.planned_at)) for row in rows}


def forget(conn: Connection, send_id: int) -> None:
    """Drop the snapshot of a send that sent nothing (cancelled): planning it again freezes the file anew."""
    conn.execute(delete(send_snapshots).where(send_snapshots.c.send_id == send_id))


@dataclass(frozen=True)
class PlannedSend:
    """A send planned with what it sends: the ``sends`` row, its snapshot and its list."""

    send: SendRow
    snapshot: Snapshot
    the_list: ListRow
    planned: int  # rows this planning added


def plan_frozen(
    conn: Connection,
    settings: Settings,
    *,
    issue: str,
    content: Content,
    lang: str,
    list_name: str,
    provider: str,
    refreeze: bool = False,
) -> PlannedSend:
    """Plan the send of ``issue`` to the list, and freeze what it sends the first time.

    A send planned before keeps its snapshot — ``content`` (the file as rendered now) is
    then not used — unless ``refreeze``: a scheduled send replaced before it fired.
    """
    list_id = find_list_id(conn, list_name)
    the_list = get_list_by_id(conn, list_id)
    existing = get_send(conn, issue, list_id)
    frozen = load(conn, existing.id, issue) if existing is not None and not refreeze else None
    subject = frozen.content.subject if frozen is not None else content.subject
    send_id, added = plan(conn, issue=issue, list_id=list_id, subject=subject, provider=provider)
    if frozen is None:
        headers = list_headers(settings, campaign=issue, list_name=the_list.name, list_title=the_list.title)
        frozen = freeze(conn, send_id, content, lang=lang, list_headers=headers)
    send = get_send(conn, issue, list_id)
    assert send is not None
    return PlannedSend(send, frozen, the_list, added)
