"""``GET /c/TOKEN``: a tracked link (``[tracking] clicks``) — count the click, send the reader on.

No open redirect: the server redirects only to the destination the token signs
(:meth:`newsletter.tokens.Signer.read_link`), and only when the issue the token names carries
that very link — in what a send of it froze (``send_snapshots``), or, before any send (a test
mail), in the issue file as it renders now. Anything else — a forged, damaged or foreign
token, a link of another issue — is a 404 page that redirects nowhere.

A click is stored as (issue, destination, time) in ``clicks``: nothing about the reader, not
their address, IP address or browser. The token is the same for every reader, so there is
nothing to tell readers apart by (see docs/privacy.md). Mail scanners that open links to check
them are counted like people: the number is an upper bound, said so in the report's docs.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from newsletter.errors import NewsletterError, TokenError
from newsletter.issue import all_issues
from newsletter.send.service import prepare_issue
from newsletter.store.schema import clicks, send_snapshots, sends
from newsletter.tracking import CLICK_PATH
from newsletter.web.context import WebContext, in_thread, web

log = logging.getLogger("newsletter.web")


def _sent_with(context: WebContext, issue: str, link: str) -> bool:
    """Whether a frozen send of ``issue`` carries ``link``."""
    with context.engine.connect() as conn:
        frozen = conn.execute(
            select(send_snapshots.c.html)
            .join(sends, sends.c.id == send_snapshots.c.send_id)
            .where(sends.c.issue == issue)
        ).scalars()
        return any(link in html for html in frozen)


def _renders_with(context: WebContext, issue: str, link: str) -> bool:
    """Whether the issue file renders with ``link`` now (a test mail before any send); cached per file."""
    path = next((p for p in all_issues(context.settings) if p.stem == issue), None)
    if path is None:
        return False
    key = f"tracked-html:{issue}:{path.stat().st_mtime_ns}"
    html = context.render_cache.get(key)
    if html is None:
        try:
            html = prepare_issue(context.settings, str(path), run_checks=False).content.html
        except NewsletterError:
            return False
        context.render_cache[key] = html
    return link in html


def _follow(context: WebContext, token: str) -> str | None:
    """The destination of a genuine link of an issue, its click counted; None for anything else.

    An issue sent while tracking was on keeps leading its readers on after ``[tracking] clicks``
    is turned off; only the counting stops.
    """
    try:
        issue, url = context.signer.read_link(token)
    except TokenError:
        return None
    link = CLICK_PATH + token
    if not (_sent_with(context, issue, link) or _renders_with(context, issue, link)):
        log.warning("tracked link refused: issue %s does not carry it", issue)
        return None
    if context.settings.tracking.clicks:
        with context.write() as conn:
            conn.execute(clicks.insert().values(issue=issue, url=url, clicked_at=datetime.now(UTC)))
    return url


async def follow_link(request: Request) -> Response:
    context = web(request)
    url = await in_thread(_follow, context, request.path_params["token"])
    if url is None:
        return context.page(request, "link_problem.html", context.language(request), 404)
    # 302, never cached: each click is counted, and the destination is the same for everyone.
    return RedirectResponse(
        url, status_code=302, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}
    )


routes = [Route(CLICK_PATH + "{token}", follow_link, methods=["GET"])]
