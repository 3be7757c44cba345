"""An issue's report in the workspace: ``/admin/issues/SLUG/report``, and its charts as SVG images.

The same figures and the same content as ``newsletter report`` (:mod:`newsletter.reports`):
the page shows :func:`~newsletter.reports.page.report_body` inside the workspace's layout. The
charts come as ``<img>`` from ``…/report/NAME.svg`` rather than inline: the /admin CSP allows
no inline style, which matplotlib's SVG is full of, and an SVG shown as an image runs nothing.
Only people who may send see it (``issue.send``): the bounce and complaint lists name addresses.
An issue not sent yet gets a page saying so; an unknown one is a 404.
"""

from __future__ import annotations

import time

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import NotFound
from newsletter.reports.charts import CHART_NAMES, chart
from newsletter.reports.figures import IssueReport, issue_report
from newsletter.reports.page import report_body
from newsletter.reports.words import report_words
from newsletter.web.admin.guard import HOME, Visitor, guarded, message, render
from newsletter.web.admin.sending import ISSUE_PATH, issue_file
from newsletter.web.context import WebContext, in_thread, web

REPORT_PATH = ISSUE_PATH + "/report"
# A report this young is shown again rather than made again (the page, then its charts).
FRESH_SECONDS = 30


def report_url(slug: str) -> str:
    return REPORT_PATH.format(slug=slug)


def _report(context: WebContext, slug: str) -> IssueReport | None:
    """The issue's report, made at most every :data:`FRESH_SECONDS`: the page and its three
    charts come in four requests, and each report reads every event of the issue."""
    key = f"report:{slug}"
    made = context.render_cache.get(key)
    if made is not None and time.monotonic() - made[0] < FRESH_SECONDS:
        return made[1]
    try:
        report = issue_report(context.engine, slug, tracking=context.settings.tracking)
    except NotFound:
        return None
    context.render_cache[key] = (time.monotonic(), report)
    return report


def _chart_images(slug: str, lang: str) -> dict[str, Markup]:
    words = report_words(lang)
    return {
        name: Markup('<img src="{src}" alt="{alt}">').format(
            src=f"{report_url(slug)}/{name}.svg", alt=words[f"{name}_chart_alt"]
        )
        for name in CHART_NAMES
    }


@guarded("issue.send")
async def report_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    slug = request.path_params["slug"]
    report = await in_thread(_report, web(request), slug)
    words = report_words(visitor.lang)
    if report is None:
        # An issue that exists but was not sent has an empty report (200); an unknown one is a 404.
        status = 200 if issue_file(web(request).settings, slug) is not None else 404
        return message(
            request, visitor.lang, status, "report_none_title", "report_none_body", visitor=visitor, link=HOME
        )
    return render(
        request,
        "admin/report.html",
        visitor.lang,
        visitor=visitor,
        report=report,
        words=words,
        body=report_body(report, visitor.lang, _chart_images(slug, visitor.lang)),
        command=f"newsletter report {slug} --out rapport",
    )


def _chart(context: WebContext, slug: str, name: str, lang: str) -> str | None:
    report = _report(context, slug)
    return chart(report, name, lang) if report is not None else None


@guarded("issue.send")
async def chart_image(request: Request, visitor: Visitor, form: FormData) -> Response:
    name = request.path_params["name"]
    if name not in CHART_NAMES:
        return Response("Not found\n", status_code=404, media_type="text/plain")
    svg = await in_thread(_chart, web(request), request.path_params["slug"], name, visitor.lang)
    if svg is None:
        return Response("Not found\n", status_code=404, media_type="text/plain")
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


routes = [
    Route(REPORT_PATH, report_page, methods=["GET"]),
    Route(REPORT_PATH + "/{name}.svg", chart_image, methods=["GET"]),
]
