"""Lists (admins): every list with its members by state, a link to its members, its CSV export.

The counts are :func:`~newsletter.store.audience.membership_counts`, the
numbers ``newsletter lists show`` prints; the export is
:func:`~newsletter.store.exports.write_members_csv`, the file ``newsletter
subscribers export`` writes (``--excel`` is the page's "for Danish Excel"),
audited as ``subscribers.exported``. A list's members are the subscriber
search narrowed to it (:mod:`.subscribers`).
"""

from __future__ import annotations

import io

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import NotFound
from newsletter.store.audience import membership_counts
from newsletter.store.exports import write_members_csv
from newsletter.store.lists import ListRow, all_lists, get_list, utcnow
from newsletter.web.admin.guard import Visitor, download, field, guarded, message, render
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace.people import record_members_export

LISTS = "/admin/lists"


def _lists(context: WebContext) -> list[tuple[ListRow, dict[str, int]]]:
    with context.read() as conn:
        return [(row, membership_counts(conn, row.id)) for row in all_lists(conn)]


@guarded("lists.manage")
async def lists_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    rows = await in_thread(_lists, web(request))
    return render(request, "admin/lists.html", visitor.lang, visitor=visitor, rows=rows)


def _csv(context: WebContext, name: str, excel: bool) -> tuple[ListRow, bytes, int]:
    """The list's members as the CLI's export writes them; read outside the writer's turn."""
    with context.read() as conn:
        the_list = get_list(conn, name)
    buffer = io.StringIO()
    count = write_members_csv(context.engine, the_list.id, buffer, excel=excel)
    return the_list, buffer.getvalue().encode("utf-8-sig" if excel else "utf-8"), count


def _audit_export(context: WebContext, visitor: Visitor, the_list: ListRow, count: int, excel: bool) -> None:
    with context.write() as conn:
        record_members_export(conn, visitor.actor(), the_list.name, count, excel=excel)


@guarded("subscribers.manage")
async def export_list(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    excel = field(form, "excel") == "yes"
    try:
        the_list, body, count = await in_thread(_csv, context, request.path_params["name"], excel)
    except NotFound:
        return message(
            request, visitor.lang, 404, "not_found_title", "not_found_body", visitor=visitor, link="/admin/"
        )
    # Recorded before the file is handed over: no export leaves without its entry.
    await context.in_writer(_audit_export, context, visitor, the_list, count, excel)
    name = f"{the_list.name}-{utcnow():%Y-%m-%d}.csv"  # list names are [a-z0-9_-]
    return download(body, name, "text/csv; charset=utf-8")


routes = [
    Route(LISTS, lists_page, methods=["GET"]),
    Route(LISTS + "/{name}/export", export_list, methods=["POST"]),
]
