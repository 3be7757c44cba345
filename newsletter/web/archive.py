"""The public archive: ``/`` (sent issues, newest first), ``/issues/SLUG``, its images, ``/feed.xml``.

Only issues with a send that started (``sends.status`` sending or done) are
listed or shown: a draft in ``issues/`` stays private. The web version is the
email's own rendering merged with no personal data: a generic greeting, and
unsubscribe / preference links that lead to a page explaining to use the
link in the email (a web page must not carry anyone's working token).
Renders are cached per issue and file modification time.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import Route

from newsletter.errors import NewsletterError
from newsletter.personalize import merge_html
from newsletter.store import lists as list_store
from newsletter.store.lists import ListRow, aware
from newsletter.store.schema import sends
from newsletter.web.app import WebContext, in_thread, web
from newsletter.web.i18n import translator

log = logging.getLogger("newsletter.web")
SENT_STATUSES = ("sending", "done")
IMAGE_TYPES = {".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"}
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
WEB_UNSUBSCRIBE_PATH = "/about/unsubscribe"


@dataclass(frozen=True)
class ArchivedIssue:
    slug: str
    subject: str
    title: str
    preheader: str
    lang: str
    sent_at: datetime
    url: str


def _sent_slugs(context: WebContext) -> list[tuple[str, datetime]]:
    """Slugs of sent issues with the time their first send started, newest first."""
    query = (
        select(sends.c.issue, func.min(sends.c.created_at).label("first_sent"))
        .where(sends.c.status.in_(SENT_STATUSES))
        .group_by(sends.c.issue)
        .order_by(func.min(sends.c.created_at).desc())
    )
    with context.read() as conn:
        return [(row.issue, aware(row.first_sent)) for row in conn.execute(query)]


def _issue_path(context: WebContext, slug: str) -> Path | None:
    from newsletter.issue import resolve_issue

    if not _SAFE_NAME.match(slug):
        return None
    try:
        path = resolve_issue(slug, context.settings)
    except NewsletterError:
        return None
    return path if path.is_file() else None


def _load(context: WebContext, slug: str, sent_at: datetime) -> ArchivedIssue | None:
    from newsletter.issue import load_issue

    path = _issue_path(context, slug)
    if path is None:
        log.warning("archive: issue %s was sent but its file is missing", slug)
        return None
    key = f"meta:{slug}:{path.stat().st_mtime_ns}"
    cached = context.render_cache.get(key)
    if cached is None:
        try:
            cached = load_issue(path, context.settings)
        except NewsletterError as exc:
            log.warning("archive: issue %s cannot be read: %s", slug, exc)
            return None
        context.render_cache[key] = cached
    return ArchivedIssue(
        slug=slug,
        subject=cached.subject,
        title=cached.title,
        preheader=cached.preheader,
        lang=cached.lang,
        sent_at=sent_at,
        url=context.settings.url(f"issues/{slug}"),
    )


def archived_issues(context: WebContext) -> list[ArchivedIssue]:
    found = (_load(context, slug, sent_at) for slug, sent_at in _sent_slugs(context))
    return [issue for issue in found if issue is not None]


def _lists(context: WebContext) -> list[ListRow]:
    with context.read() as conn:
        return list_store.all_lists(conn)


async def index(request: Request) -> Response:
    context = web(request)
    issues = await in_thread(archived_issues, context)
    the_lists = await in_thread(_lists, context)
    lang = context.language(request)
    return context.page(request, "archive.html", lang, issues=issues, lists=the_lists)


def web_version(context: WebContext, slug: str) -> str | None:
    """The issue's HTML with no personal data, or None when it was not sent."""
    sent = dict(_sent_slugs(context))
    if slug not in sent:
        return None
    path = _issue_path(context, slug)
    if path is None:
        return None
    key = f"web:{slug}:{path.stat().st_mtime_ns}"
    cached = context.render_cache.get(key)
    if isinstance(cached, str):
        return cached
    from newsletter.issue import load_issue
    from newsletter.render import recipient_values, render_issue

    issue = load_issue(path, context.settings)
    rendered = render_issue(issue, context.settings)
    help_url = context.settings.url(WEB_UNSUBSCRIBE_PATH.lstrip("/") + f"?lang={issue.lang}")
    # No personal data: the generic greeting, and no working unsubscribe token.
    values = recipient_values(
        context.settings,
        email="",
        name=None,
        unsubscribe_url=help_url,
        preferences_url=help_url,
        web_url=context.settings.url(f"issues/{slug}"),
        lang=issue.lang,
    )
    html = merge_html(rendered.html, values)
    context.render_cache[key] = html
    return html


async def issue_page(request: Request) -> Response:
    context = web(request)
    html = await in_thread(web_version, context, request.path_params["slug"])
    if html is None:
        lang = context.language(request)
        return context.page(
            request, "message.html", lang, 404, heading_key="not_found_heading", body_key="not_found_body"
        )
    return HTMLResponse(html, headers={"Cache-Control": "public, max-age=300"})


async def issue_image(request: Request) -> Response:
    context = web(request)
    slug, filename = request.path_params["slug"], request.path_params["filename"]
    folder = context.settings.issues_dir / slug
    path = folder / filename
    if (
        not _SAFE_NAME.match(slug)
        or not _SAFE_NAME.match(filename)
        or path.suffix.lower() not in IMAGE_TYPES
        or not path.is_file()
    ):
        lang = context.language(request)
        return context.page(
            request, "message.html", lang, 404, heading_key="not_found_heading", body_key="not_found_body"
        )
    return FileResponse(path, headers={"Cache-Control": "public, max-age=86400"})


async def feed(request: Request) -> Response:
    context = web(request)
    issues = await in_thread(archived_issues, context)
    settings = context.settings
    xml = context.pages.get_template("feed.xml").render(
        issues=issues,
        feed_url=settings.url("feed.xml"),
        site_url=settings.url(""),
        organisation=settings.organisation,
        updated=issues[0].sent_at if issues else None,
        title=translator(settings.language)("archive_title"),
    )
    return Response(xml, media_type="application/atom+xml; charset=utf-8")


async def web_unsubscribe_help(request: Request) -> Response:
    context = web(request)
    lang = context.language(request)
    return context.page(
        request, "message.html", lang, heading_key="web_unsubscribe_heading", body_key="web_unsubscribe_body"
    )


routes = [
    Route("/", index, methods=["GET"]),
    Route("/feed.xml", feed, methods=["GET"]),
    Route(WEB_UNSUBSCRIBE_PATH, web_unsubscribe_help, methods=["GET"]),
    Route("/issues/{slug}", issue_page, methods=["GET"]),
    Route("/issues/{slug}/{filename}", issue_image, methods=["GET"]),
]
