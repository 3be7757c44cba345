"""The audit log (admins): newest first, 50 a page, filtered by user and action; the whole log as CSV.

Reading and exporting are the library's (:mod:`newsletter.workspace.audit`);
the export is a POST, since it is itself audited (``audit.exported``).
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.store.lists import utcnow
from newsletter.web.admin.guard import Visitor, download, field, guarded, render
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace.audit import (
    AUDIT_ACTIONS,
    AuditEntry,
    iter_entries,
    recent_entries,
    record,
    write_csv,
)
from newsletter.workspace.users import UserRow, all_users

AUDIT = "/admin/audit"
PAGE_SIZE = 50


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 19 else None


def _entries(
    context: WebContext, before: int | None, user_id: int | None, action: str | None
) -> tuple[list[AuditEntry], list[UserRow]]:
    with context.read() as conn:
        entries = recent_entries(conn, limit=PAGE_SIZE + 1, before_id=before, user_id=user_id, action=action)
        return entries, all_users(conn)


@guarded("audit.view")
async def audit_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    params = request.query_params
    user_id = _number(params.get("user"))
    action = params.get("action") if params.get("action") in AUDIT_ACTIONS else None
    before = _number(params.get("before"))
    entries, people = await in_thread(_entries, web(request), before, user_id, action)
    older_url = ""
    if len(entries) > PAGE_SIZE:
        entries = entries[:PAGE_SIZE]
        query: dict[str, Any] = {"before": entries[-1].id}
        if user_id is not None:
            query["user"] = user_id
        if action is not None:
            query["action"] = action
        older_url = AUDIT + "?" + urlencode(query)
    newest_url = ""
    if before is not None:
        query = {k: v for k, v in (("user", user_id), ("action", action)) if v is not None}
        newest_url = AUDIT + ("?" + urlencode(query) if query else "")
    return render(
        request,
        "admin/audit.html",
        visitor.lang,
        visitor=visitor,
        entries=entries,
        people=people,
        actions=sorted(AUDIT_ACTIONS),
        chosen_user=user_id,
        chosen_action=action or "",
        older_url=older_url,
        newest_url=newest_url,
    )


def _export(context: WebContext, visitor: Visitor, excel: bool) -> bytes:
    """The whole log as CSV, written in the transaction that records the export itself."""
    buffer = io.StringIO()
    with context.write() as conn:
        count = write_csv(iter_entries(conn), buffer, delimiter=";" if excel else ",")
        record(conn, visitor.actor(), "audit.exported", "web", {"entries": count, "excel": excel})
    return buffer.getvalue().encode("utf-8-sig" if excel else "utf-8")


@guarded("audit.view")
async def export(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    excel = field(form, "excel") == "yes"
    body = await context.in_writer(_export, context, visitor, excel)
    name = f"audit-{utcnow():%Y-%m-%d}.csv"
    return download(body, name, "text/csv; charset=utf-8")


routes = [
    Route(AUDIT, audit_page, methods=["GET"]),
    Route(AUDIT + "/export", export, methods=["POST"]),
]
