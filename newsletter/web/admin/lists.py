"""Lists & subscribers (admins): for now the lists and how many are subscribed to each.

The search, import, export and GDPR pages of issue #11 build on this page.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.store.audience import count_audience
from newsletter.store.lists import ListRow, all_lists
from newsletter.web.admin.guard import Visitor, guarded, render
from newsletter.web.context import WebContext, in_thread, web


def _lists(context: WebContext) -> list[tuple[ListRow, int]]:
    with context.read() as conn:
        return [(row, count_audience(conn, row.id)) for row in all_lists(conn)]


@guarded("lists.manage")
async def lists_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    rows = await in_thread(_lists, web(request))
    return render(request, "admin/lists.html", visitor.lang, visitor=visitor, rows=rows)


routes = [Route("/admin/lists", lists_page, methods=["GET"])]
