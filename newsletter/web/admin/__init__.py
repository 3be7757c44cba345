"""The workspace's web shell under /admin: sign-in, the guard, the layout and the first pages.

- :mod:`.guard`     the one guard every page goes through (session, role, CSRF) and page rendering
- :mod:`.auth`      sign in (password, then code), sign out, out everywhere, set-password links
- :mod:`.issues`    the home page: every issue file with its checks and send state
- :mod:`.editor`    New issue and Edit: the Markdown editor, its live preview, drafts, images
- :mod:`.sending`   test an issue, send it to a list, its live progress and status (:mod:`.runs`)
- :mod:`.reporting` an issue's report after the send: figures, lists, charts (SVG images)
- :mod:`.approving` the four-eyes rule: ask for a send's approval, approve another's
- :mod:`.lists`     lists with their members by state, and each list's CSV export (admins)
- :mod:`.subscribers` search, one subscriber's page, add, unsubscribe, export their data, erase (admins)
- :mod:`.importing` import subscribers from a CSV file or workbook: upload, preview, import, report
  (the uploads and the imports' threads: :mod:`.import_runs`)
- :mod:`.users`     add, disable, enable, reset users and change roles (admins)
- :mod:`.audit`     the audit log, filtered and paged, and its CSV export (admins)
- :mod:`.account`   the user's language, two-factor sign-in, signing out everywhere
- :mod:`.static`    the stylesheet and the vendored htmx, under content-hashed names
- :mod:`.words`     every word in Danish and English

Pages are Jinja templates in ``templates/web/admin/`` (a project may
override them like any web page) and carry no inline script or style: the
/admin CSP forbids both. A new page is a route made with
:func:`~.guard.guarded` and the action it needs, added to :data:`routes`.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.web.admin import (
    account,
    approving,
    audit,
    auth,
    editor,
    importing,
    issues,
    lists,
    reporting,
    sending,
    subscribers,
    users,
)
from newsletter.web.admin.guard import AdminState, admin_state, public
from newsletter.web.admin.static import CACHE_FOREVER, STATIC_PATH


@public
async def static_file(request: Request) -> Response:
    found = admin_state(request).static.by_url_name.get(request.path_params["name"])
    if found is None:
        return Response("Not found\n", status_code=404, media_type="text/plain")
    return Response(found.content, media_type=found.media_type, headers={"Cache-Control": CACHE_FOREVER})


routes = [
    *auth.routes,
    *issues.routes,
    *editor.routes,
    *sending.routes,
    *reporting.routes,
    *approving.routes,
    *lists.routes,
    *subscribers.routes,
    *importing.routes,
    *users.routes,
    *audit.routes,
    *account.routes,
    Route(STATIC_PATH + "{name}", static_file, methods=["GET"]),
]

__all__ = ["AdminState", "routes"]
