"""What is done to one subscriber's data and recorded in the audit log — the same way whether an
admin does it in the workspace or on the command line (``newsletter subscribers …``).

The audit log names a subscriber by id, never by address: the log cannot be changed, and an
erased person must leave no address behind in it (nor its hash, which identifies the address).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection

from newsletter.store.gdpr import Erasure, erase, export_data
from newsletter.store.imports import ImportSummary
from newsletter.store.subscribers import get_subscriber
from newsletter.workspace.audit import Actor, record


def audit_subject(subscriber_id: int | None) -> str:
    """How the audit log names a subscriber: ``subscriber:ID`` (``subscriber:-`` when only a block on
    the address is held, without a profile)."""
    return f"subscriber:{subscriber_id if subscriber_id is not None else '-'}"


def erase_recorded(conn: Connection, email: str, actor: Actor) -> Erasure:
    """Erase ``email`` (:func:`newsletter.store.gdpr.erase`) and record it, with counts only."""
    profile = get_subscriber(conn, email)
    result = erase(conn, email)
    record(
        conn,
        actor,
        "subscriber.erased",
        audit_subject(profile.id if profile else None),
        {
            "memberships": result.memberships,
            "consent_rows": result.consent_rows,
            "events": result.events,
            "deliveries_detached": result.deliveries_detached,
        },
    )
    return result


def export_data_recorded(conn: Connection, email: str, actor: Actor) -> dict[str, Any]:
    """Everything held about ``email`` (a GDPR access request), and that it was handed out."""
    profile = get_subscriber(conn, email)
    data = export_data(conn, email)
    record(conn, actor, "subscriber.data_exported", audit_subject(profile.id if profile else None))
    return data


def record_members_export(conn: Connection, actor: Actor, list_name: str, rows: int, *, excel: bool) -> None:
    """That a list's members were exported as CSV (a copy of personal data left the system)."""
    record(conn, actor, "subscribers.exported", list_name, {"rows": rows, "excel": excel})


def record_import(
    conn: Connection,
    actor: Actor,
    list_name: str,
    file_name: str,
    summary: ImportSummary | None,
    *,
    resubscribe: bool,
    rows: int | None = None,
    failure: str = "",
) -> None:
    """That a file was imported into ``list_name``: its name and the import's counts (no addresses);
    ``failure`` when it stopped, with the line up to which rows are saved."""
    detail: dict[str, Any] = {"file": file_name}
    if rows is not None:
        detail["rows"] = rows
    detail.update(summary.counts if summary is not None else {})
    detail["resubscribe"] = resubscribe
    if summary is not None and summary.resubscribed:
        detail["resubscribed"] = summary.resubscribed
    if failure:
        detail["stopped"] = failure
        detail["saved_up_to_line"] = summary.last_committed_line if summary is not None else 0
    record(conn, actor, "subscribers.imported", list_name, detail)
