"""The one guard in front of every /admin page, and how those pages are rendered.

Every workspace route is made with :func:`guarded` (a signed-in user who may
do the route's action) or :func:`public` (the sign-in, code and
set-password pages and the static files, which nobody is signed in for yet).
A test walks the app's route table and fails on any /admin route made by
neither, so no page can be added unguarded.

What :func:`guarded` does, in this order, for every request:

1. reads the session cookie and looks the session up
   (:func:`newsletter.workspace.sessions.lookup_session`: it refuses a
   session past its idle or absolute end, one older than the user's "log out
   everywhere", a pending second factor, and any session of a disabled user,
   and notes the visit);
2. without one: a GET goes to ``/admin/login?next=…`` (a local /admin path
   only), anything else gets the "you are signed out" page with 403;
3. asks :func:`~newsletter.workspace.roles.may` for the route's action:
   403 page in the user's language when not;
4. on a POST, reads the form as text and compares its ``csrf_token`` with the
   session's own CSRF secret (constant time): 403 when it is missing or wrong.

The session cookie is HttpOnly, ``Path=/admin``, ``Secure`` when
``[site] base_url`` is https, and ``SameSite=Lax``. Lax, not Strict: a link
to a workspace page from an email or the intranet should open it signed in
rather than as a second sign-in; every change is a POST with the session's
CSRF token, so Lax gives a cross-site page nothing to use. (The set-password
link from the email needs no cookie at all: its token is the authority.)
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from newsletter.checks.files import CheckedFiles
from newsletter.store.lists import utcnow
from newsletter.web.admin.import_runs import ImportDesk
from newsletter.web.admin.library_words import library_text
from newsletter.web.admin.previews import PreviewStore
from newsletter.web.admin.runs import SendRuns
from newsletter.web.admin.static import StaticFiles
from newsletter.web.admin.words import admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.forms import UnusableForm, text_form, upload_form
from newsletter.web.i18n import other_language, pick_language
from newsletter.web.security import CSRF_FIELD, RateLimiter, local_link
from newsletter.workspace.audit import Actor
from newsletter.workspace.login import CLIENT_ATTEMPTS, CLIENT_WINDOW_SECONDS
from newsletter.workspace.roles import ACTIONS, may
from newsletter.workspace.sessions import (
    SessionPolicy,
    SessionRow,
    SignedIn,
    csrf_matches,
    lookup_pending_login,
    lookup_session,
)
from newsletter.workspace.users import UserRow

SESSION_COOKIE = "nl_admin_session"
# Forms shown before anyone is signed in (sign-in, set-password): a double-submit cookie.
ANONYMOUS_CSRF_COOKIE = "nl_admin_csrf"
COOKIE_PATH = "/admin"
HOME = "/admin/"
LOGIN = "/admin/login"
CODE_STEP = LOGIN + "/code"


@dataclass(frozen=True)
class AdminState:
    """What the workspace adds to the web service: session lifetimes, the sign-in limit, its files,
    the sends and imports it started, and the issues' checks."""

    policy: SessionPolicy
    login_limiter: RateLimiter
    static: StaticFiles
    previews: PreviewStore  # the editor's rendered emails (newsletter.web.admin.previews)
    runs: SendRuns
    imports: ImportDesk  # subscriber files uploaded for an import, and the imports (newsletter.web.admin.import_runs)
    issue_checks: CheckedFiles  # the Issues page's checks, redone only for changed files

    @classmethod
    def for_context(cls, context: WebContext) -> AdminState:
        return cls(
            policy=SessionPolicy.from_settings(context.settings.admin),
            login_limiter=RateLimiter("admin-login", CLIENT_ATTEMPTS, CLIENT_WINDOW_SECONDS),
            static=StaticFiles.load(),
            previews=PreviewStore(),
            runs=SendRuns(),
            imports=ImportDesk(),
            issue_checks=CheckedFiles(context.settings),
        )


def admin_state(request: Request) -> AdminState:
    state: AdminState = request.app.state.admin
    return state


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@dataclass(frozen=True)
class Visitor:
    """The signed-in user of this request, their session and where they are."""

    user: UserRow
    session: SessionRow
    ip: str

    @property
    def lang(self) -> str:
        return self.user.language

    def actor(self) -> Actor:
        return self.user.actor(self.ip)

    def may(self, action: str) -> bool:
        return may(self.user, action)


Handler = Callable[[Request, Visitor, FormData], Awaitable[Response]]
Endpoint = Callable[[Request], Awaitable[Response]]


def guarded(action: str | None, *, upload: bool = False) -> Callable[[Handler], Endpoint]:
    """Make ``handler`` a route for signed-in users who may do ``action`` (None: any signed-in user).

    The handler gets the request, the :class:`Visitor` and the POSTed form
    (empty for a GET), its CSRF token already checked. Forms hold text only,
    unless ``upload``: then one file is taken too (:func:`~newsletter.web.forms.upload_form`).
    """
    if action is not None and action not in ACTIONS:
        raise ValueError(f"unknown workspace action {action!r} — use one of: {', '.join(ACTIONS)}")

    def wrap(handler: Handler) -> Endpoint:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            return await _guard(request, handler, action, upload)

        endpoint.admin_access = "guarded"  # type: ignore[attr-defined]
        endpoint.admin_action = action  # type: ignore[attr-defined]
        return endpoint

    return wrap


def public(endpoint: Endpoint) -> Endpoint:
    """Mark a route that is reachable without a session (sign-in, set-password, static files)."""
    endpoint.admin_access = "public"  # type: ignore[attr-defined]
    return endpoint


def _look_up(context: WebContext, token: str, policy: SessionPolicy) -> SignedIn | None:
    with context.write() as conn:  # looking up also deletes a dead session and notes the visit
        return lookup_session(conn, token, policy, now=utcnow())


async def signed_in(request: Request) -> SignedIn | None:
    """The session of this request's cookie, if it is alive (see the module's step 1)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    context = web(request)
    return await context.in_writer(_look_up, context, token, admin_state(request).policy)


def _is_pending(context: WebContext, token: str) -> bool:
    with context.read() as conn:
        return lookup_pending_login(conn, token) is not None


async def _guard(request: Request, handler: Handler, action: str | None, upload: bool = False) -> Response:
    found = await signed_in(request)
    if found is None:
        token = request.cookies.get(SESSION_COOKIE)
        pending = bool(token) and await in_thread(_is_pending, web(request), token)
        return _signed_out(request, pending=pending)
    visitor = Visitor(found.user, found.session, client_ip(request))
    if action is not None and not visitor.may(action):
        return render(
            request,
            "admin/message.html",
            visitor.lang,
            visitor=visitor,
            status_code=403,
            heading="forbidden_title",
            body="forbidden_body",
            body_values={"role": admin_translator(visitor.lang)("role_" + visitor.user.role)},
        )
    form = FormData()
    if request.method == "POST":
        try:
            form = await (upload_form(request) if upload else text_form(request))
        except UnusableForm:
            return message(request, visitor.lang, 400, "form_expired", "form_unusable", visitor=visitor)
        if not csrf_matches(visitor.session, _field(form, CSRF_FIELD)):
            return message(request, visitor.lang, 403, "forbidden_title", "form_expired", visitor=visitor)
    return await handler(request, visitor, form)


def _signed_out(request: Request, *, pending: bool) -> Response:
    """A GET goes to sign in (or to the code step of a sign-in half done); anything else is refused."""
    if request.method in ("GET", "HEAD"):
        where = local_link(request.scope["path"])
        if request.scope.get("query_string"):
            where += "?" + request.scope["query_string"].decode("latin-1")
        step = CODE_STEP if pending else LOGIN
        response: Response = RedirectResponse(step + "?" + urlencode({"next": where}), status_code=303)
    else:
        lang = anonymous_language(request)
        response = message(request, lang, 403, "signed_out_title", "signed_out_body", link=LOGIN)
    if SESSION_COOKIE in request.cookies and not pending:
        forget_session_cookie(response, request)
    return response


def safe_next(value: str | None) -> str:
    """Where to go after signing in: a path inside /admin on this service, else the home page."""
    if not value or len(value) > 2000 or "\\" in value or any(ord(c) < 0x20 for c in value):
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//"):
        return HOME
    if parts.path != "/admin" and not parts.path.startswith("/admin/"):
        return HOME
    if parts.path.startswith(LOGIN) or parts.path.startswith("/admin/set-password"):
        return HOME
    return value


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value if isinstance(value, str) else ""


def field(form: FormData, name: str, limit: int = 1000) -> str:
    """A text field of a form ("" when absent), cut to ``limit`` characters."""
    return _field(form, name)[:limit]


def is_secure(request: Request) -> bool:
    return web(request).settings.base_url.startswith("https://")


def set_session_cookie(response: Response, request: Request, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=is_secure(request),
        path=COOKIE_PATH,
    )


def forget_session_cookie(response: Response, request: Request) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=is_secure(request), path=COOKIE_PATH
    )


# --- forms shown before sign-in ----------------------------------------------------------------


def anonymous_csrf(request: Request) -> str:
    """The double-submit cookie value for a pre-sign-in form (the request's, or a new one)."""
    return request.cookies.get(ANONYMOUS_CSRF_COOKIE) or web(request).csrf.new_cookie_value()


def with_anonymous_csrf(response: Response, request: Request, cookie_value: str) -> Response:
    response.set_cookie(
        ANONYMOUS_CSRF_COOKIE,
        cookie_value,
        httponly=True,
        samesite="strict",
        secure=is_secure(request),
        path=COOKIE_PATH,
    )
    return response


def anonymous_csrf_ok(request: Request, form: FormData) -> bool:
    return web(request).csrf.is_valid(request.cookies.get(ANONYMOUS_CSRF_COOKIE), _field(form, CSRF_FIELD))


def anonymous_language(request: Request, form: FormData | None = None) -> str:
    """The language of a page nobody is signed in on: ``?lang=``, the form's ``lang``, the site's."""
    submitted = _field(form, "lang") if form is not None else None
    return pick_language(request.query_params.get("lang"), submitted, default=web(request).settings.language)


# --- rendering ---------------------------------------------------------------------------------

# The navigation: (words key, link, the action a user needs to see it; None: everyone signed in).
NAVIGATION: tuple[tuple[str, str, str | None], ...] = (
    ("nav_issues", HOME, "issue.preview"),
    ("nav_lists", "/admin/lists", "lists.manage"),
    ("nav_users", "/admin/users", "users.manage"),
    ("nav_audit", "/admin/audit", "audit.view"),
    ("nav_account", "/admin/account", None),
)


# Pages that belong under another page's menu item: a subscriber is found from "Lists & subscribers".
SECTIONS = {"/admin/subscribers": "/admin/lists"}


def navigation(visitor: Visitor | None, path: str) -> list[dict[str, Any]]:
    if visitor is None:
        return []
    section = next((item for prefix, item in SECTIONS.items() if path.startswith(prefix)), path)
    return [
        {"key": key, "href": href, "current": section == href or (href != HOME and section.startswith(href))}
        for key, href, action in NAVIGATION
        if action is None or visitor.may(action)
    ]


def download(body: str | bytes, file_name: str, media_type: str) -> Response:
    """A file the browser saves as ``file_name`` and keeps in no cache (exports hold personal data).
    ``file_name`` is built by the page from safe parts (dates, ids, list names), never from input."""
    return Response(
        body,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{file_name}"', "Cache-Control": "no-store"},
    )


def render(
    request: Request,
    template: str,
    lang: str,
    *,
    visitor: Visitor | None = None,
    status_code: int = 200,
    csrf_value: str | None = None,
    **values: Any,
) -> HTMLResponse:
    """A workspace page from ``templates/web/admin/`` in ``lang``.

    Signed-in pages carry the session's CSRF secret in every form; pre-sign-in
    pages pass ``csrf_value`` (the double-submit form value) and a language switch.
    """
    context = web(request)
    path = request.scope["path"]
    values.setdefault("error", "")
    values.setdefault("error_values", {})
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    query["lang"] = other_language(lang)
    html = context.pages.get_template(template).render(
        t=admin_translator(lang),
        library_text=library_text(lang),
        lang=lang,
        visitor=visitor,
        navigation=navigation(visitor, path),
        static=admin_state(request).static.url,
        csrf_field=CSRF_FIELD,
        csrf_value=visitor.session.csrf_secret if visitor is not None else csrf_value or "",
        switch_url=None if visitor is not None else local_link(path) + "?" + urlencode(query),
        organisation=context.settings.organisation,
        **values,
    )
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def message(
    request: Request,
    lang: str,
    status_code: int,
    heading: str,
    body: str,
    *,
    visitor: Visitor | None = None,
    link: str | None = None,
) -> HTMLResponse:
    """A page with a heading and one paragraph (errors, refusals)."""
    return render(
        request,
        "admin/message.html",
        lang,
        visitor=visitor,
        status_code=status_code,
        heading=heading,
        body=body,
        body_values={},
        link=link,
    )


async def not_found(request: Request) -> Response:
    """The 404 page under /admin: in the user's language when signed in, without telling more."""
    found = await signed_in(request)
    if found is None:
        return message(request, anonymous_language(request), 404, "not_found_title", "not_found_body")
    visitor = Visitor(found.user, found.session, client_ip(request))
    return message(
        request, visitor.lang, 404, "not_found_title", "not_found_body", visitor=visitor, link=HOME
    )


def see_other(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303)
