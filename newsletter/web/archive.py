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
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from newsletter.assets import AssetProblem, is_plain_file, media_type, read_image
from newsletter.errors import NewsletterError
from newsletter.issue import Issue, load_issue
from newsletter.links import PersonLinks, issue_url
from newsletter.per_recipient import merge_values
from newsletter.personalize import merge_html
from newsletter.render import render_issue
from newsletter.store import lists as list_store
from newsletter.store.lists import ListRow, aware
from newsletter.store.schema import sends
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.i18n import translator

log = logging.getLogger("newsletter.web")
SENT_STATUSES = ("sending", "done")
# An issue is public once a send of it started: the one rule for pages, images and the feed.
_WAS_SENT = sends.c.status.in_(SENT_STATUSES)
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
        .where(_WAS_SENT)
        .group_by(sends.c.issue)
        .order_by(func.min(sends.c.created_at).desc())
    )
    with context.read() as conn:
        return [(row.issue, aware(row.first_sent)) for row in conn.execute(query)]


def _issue_path(context: WebContext, slug: str) -> Path | None:
    """``issues/<slug>.md`` when it is a plain file: a link is never opened (see :mod:`newsletter.assets`)."""
    if not _SAFE_NAME.match(slug):
        return None
    path = context.settings.issues_dir / f"{slug}.md"
    if not is_plain_file(path):
        if path.is_symlink() or path.exists():
            log.warning("archive: %s is a link or not a regular file; it is not published", path)
        return None
    return path


def _issue(context: WebContext, slug: str) -> Issue | None:
    """The issue ``slug`` as loaded from its file (cached per modification time), or None."""
    path = _issue_path(context, slug)
    if path is None:
        log.warning("archive: issue %s was sent but its file is missing", slug)
        return None
    key = f"meta:{slug}:{path.stat().st_mtime_ns}"
    cached = context.render_cache.get(key)
    if isinstance(cached, Issue):
        return cached
    try:
        issue = load_issue(path, context.settings)
    except NewsletterError as exc:
        log.warning("archive: issue %s cannot be read: %s", slug, exc)
        return None
    context.render_cache[key] = issue
    return issue


def sent_issue(context: WebContext, slug: str) -> Issue | None:
    """The issue ``slug`` if a send of it started, else None: the one rule for what the archive shows."""
    if not _SAFE_NAME.match(slug):
        return None
    query = select(sends.c.id).where(sends.c.issue == slug, _WAS_SENT).limit(1)
    with context.read() as conn:
        if conn.execute(query).first() is None:
            return None
    return _issue(context, slug)


def _load(context: WebContext, slug: str, sent_at: datetime) -> ArchivedIssue | None:
    issue = _issue(context, slug)
    if issue is None:
        return None
    return ArchivedIssue(
        slug=slug,
        subject=issue.subject,
        title=issue.title,
        preheader=issue.preheader,
        lang=issue.lang,
        sent_at=sent_at,
        url=issue_url(context.settings, slug),
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
    issue = sent_issue(context, slug)
    if issue is None:
        return None
    key = f"web:{slug}:{issue.path.stat().st_mtime_ns}"
    cached = context.render_cache.get(key)
    if isinstance(cached, str):
        return cached
    rendered = render_issue(issue, context.settings)
    help_url = context.settings.url(WEB_UNSUBSCRIBE_PATH.lstrip("/") + f"?lang={issue.lang}")
    # No personal data: the generic greeting, and no working unsubscribe token.
    values = merge_values(
        context.settings,
        email="",
        name=None,
        lang=issue.lang,
        links=PersonLinks(help_url, help_url),
        issue=slug,
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


def published_image(context: WebContext, slug: str, filename: str) -> bytes | None:
    """The bytes of an image a sent issue shows, or None.

    The request only picks an entry of the issue's own list of images (what
    ``build`` publishes); it never names a file on disk.
    """
    issue = sent_issue(context, slug)
    if issue is None:
        return None
    wanted = context.settings.url(f"issues/{slug}/{filename}")
    for path, url in issue.assets:
        if url == wanted:
            try:
                return read_image(path)
            except AssetProblem as exc:
                log.warning("archive: image %s of %s is not served: %s", path.name, slug, exc)
                return None
    return None


async def issue_image(request: Request) -> Response:
    context = web(request)
    slug, filename = request.path_params["slug"], request.path_params["filename"]
    data = await in_thread(published_image, context, slug, filename)
    if data is None:
        lang = context.language(request)
        return context.page(
            request, "message.html", lang, 404, heading_key="not_found_heading", body_key="not_found_body"
        )
    return Response(
        data, media_type=media_type(Path(filename)), headers={"Cache-Control": "public, max-age=86400"}
    )


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
    Route("/issues/{slug}/{filename:path}", issue_image, methods=["GET"]),
]
