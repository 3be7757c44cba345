"""The four-eyes rule (``[admin] four_eyes``): a send to a list needs a second person's approval.

1. A sender asks to send an issue to a list (:func:`request_approval`).
2. Someone else who may approve (``issue.approve``: a sender or an admin)
   looks at the same issue and approves it (:func:`approve`).
3. The one who asked or the one who approved starts the send
   (:func:`check_may_start`), in the workspace.

An approval is for the issue *as it was rendered* when it was asked for: its
fingerprint (:func:`content_fingerprint`: subject, HTML and text) is stored
with the request, and an issue edited since — a word, a link, a template —
needs a new request and a new approval. The approval covers the whole send to
that list: continuing it after a stop or a restart, or retrying its failed
rows, needs no new one while the issue is unchanged.

Requests and approvals are rows of ``send_approvals``; the newest row for an
issue and a list is the one that counts. Each step is audited
(``issue.approval_requested``, ``issue.approved``). The rule binds the
workspace; ``newsletter send`` on the server is for whoever runs the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlalchemy.orm import aliased

from newsletter.errors import ApprovalRefused

# Built below, in the message model: a planned send's snapshot carries the same fingerprint.
from newsletter.message import content_fingerprint as content_fingerprint
from newsletter.store.lists import aware, utcnow
from newsletter.store.schema import send_approvals, users
from newsletter.workspace.audit import Actor, record
from newsletter.workspace.users import UserRow


@dataclass(frozen=True)
class Approval:
    """A request to send ``issue`` to a list, and its approval once given."""

    id: int
    issue: str
    list_id: int
    fingerprint: str
    requested_by: int
    requested_by_email: str
    requested_at: datetime
    approved_by: int | None = None
    approved_by_email: str | None = None
    approved_at: datetime | None = None

    @property
    def approved(self) -> bool:
        return self.approved_by is not None


_REQUESTER = aliased(users)
_APPROVER = aliased(users)


def current_approval(conn: Connection, issue: str, list_id: int) -> Approval | None:
    """The newest request for ``issue`` to the list, approved or not; None when nobody asked."""
    row = conn.execute(
        select(
            send_approvals,
            _REQUESTER.c.email.label("requester_email"),
            _APPROVER.c.email.label("approver_email"),
        )
        .select_from(
            send_approvals.join(_REQUESTER, _REQUESTER.c.id == send_approvals.c.requested_by).outerjoin(
                _APPROVER, _APPROVER.c.id == send_approvals.c.approved_by
            )
        )
        .where(send_approvals.c.issue == issue, send_approvals.c.list_id == list_id)
        .order_by(send_approvals.c.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return Approval(
        id=row.id,
        issue=row.issue,
        list_id=row.list_id,
        fingerprint=row.fingerprint,
        requested_by=row.requested_by,
        requested_by_email=row.requester_email,
        requested_at=aware(row.requested_at),
        approved_by=row.approved_by,
        approved_by_email=row.approver_email,
        approved_at=aware(row.approved_at) if row.approved_at is not None else None,
    )


def request_approval(
    conn: Connection,
    issue: str,
    list_id: int,
    list_name: str,
    fingerprint: str,
    *,
    requester: UserRow,
    actor: Actor,
    now: datetime | None = None,
) -> Approval:
    """Ask for a second person's approval to send ``issue`` as rendered now (a new request each time)."""
    now = now or utcnow()
    new_id = conn.execute(
        send_approvals.insert()
        .values(
            issue=issue,
            list_id=list_id,
            fingerprint=fingerprint,
            requested_by=requester.id,
            requested_at=now,
        )
        .returning(send_approvals.c.id)
    ).scalar_one()
    record(conn, actor, "issue.approval_requested", issue, {"list": list_name, "request": new_id}, now=now)
    found = current_approval(conn, issue, list_id)
    assert found is not None and found.id == new_id
    return found


def approve(
    conn: Connection,
    issue: str,
    list_id: int,
    list_name: str,
    fingerprint: str,
    *,
    approver: UserRow,
    actor: Actor,
    now: datetime | None = None,
) -> Approval:
    """Approve the current request, seen as rendered now; :class:`ApprovalRefused` says why not."""
    pending = current_approval(conn, issue, list_id)
    if pending is None:
        raise ApprovalRefused(
            f"nobody has asked to send {issue} to {list_name} — a sender asks first", reason="not-requested"
        )
    if pending.approved:
        raise ApprovalRefused(
            f"the send of {issue} to {list_name} is approved already (by {pending.approved_by_email})",
            reason="approved",
        )
    if pending.requested_by == approver.id:
        raise ApprovalRefused(
            f"{approver.email} asked for this send and cannot approve it too — another sender approves",
            reason="own-request",
        )
    if pending.fingerprint != fingerprint:
        raise ApprovalRefused(
            f"{issue} has changed since {pending.requested_by_email} asked — they ask again for this version",
            reason="changed",
        )
    now = now or utcnow()
    conn.execute(
        send_approvals.update()
        .where(send_approvals.c.id == pending.id, send_approvals.c.approved_by.is_(None))
        .values(approved_by=approver.id, approved_at=now)
    )
    record(
        conn,
        actor,
        "issue.approved",
        issue,
        {"list": list_name, "request": pending.id, "requested_by": pending.requested_by_email},
        now=now,
    )
    approved = current_approval(conn, issue, list_id)
    assert approved is not None
    return approved


def check_may_start(approval: Approval | None, user: UserRow, fingerprint: str, list_name: str) -> Approval:
    """The approval that lets ``user`` start this send now; :class:`ApprovalRefused` says why not."""
    if approval is None:
        raise ApprovalRefused(
            f"a send to {list_name} needs a second sender's approval ([admin] four_eyes) — ask for it first",
            reason="not-requested",
        )
    if approval.fingerprint != fingerprint:
        raise ApprovalRefused(
            f"{approval.issue} has changed since the send to {list_name} was "
            f"{'approved' if approval.approved else 'asked for'} — ask for approval of this version",
            reason="changed",
        )
    if not approval.approved:
        raise ApprovalRefused(
            f"the send to {list_name} waits for another sender's approval", reason="pending"
        )
    if user.id not in (approval.requested_by, approval.approved_by):
        raise ApprovalRefused(
            f"only {approval.requested_by_email} or {approval.approved_by_email} may start this approved send",
            reason="not-involved",
        )
    return approval
