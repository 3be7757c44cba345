"""Signing in and out: /admin/login, its code step, /admin/logout, log out everywhere, set-password.

The counting, the lockout and the sessions are the library's
(:mod:`newsletter.workspace.login`, :mod:`~newsletter.workspace.links`); these
pages pass the form in and show the refusal by its ``reason``. A wrong
address and a wrong password get the same words, so the page never says
whether an address has an account.

Every sign-in ends the session the browser came with (``replaces``) and sets
a new id, so a session id planted before sign-in is worthless after it.
"""

from __future__ import annotations

from urllib.parse import urlencode

from sqlalchemy import Engine
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import LinkRefused, LoginRefused, PasswordRejected
from newsletter.store.lists import utcnow
from newsletter.web.admin.guard import (
    CODE_STEP,
    LOGIN,
    SESSION_COOKIE,
    Visitor,
    admin_state,
    anonymous_csrf,
    anonymous_csrf_ok,
    anonymous_language,
    client_ip,
    field,
    forget_session_cookie,
    guarded,
    message,
    public,
    render,
    safe_next,
    see_other,
    set_session_cookie,
    with_anonymous_csrf,
)
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.forms import UnusableForm, text_form
from newsletter.web.security import CSRF_FIELD, client_key
from newsletter.workspace import passwords
from newsletter.workspace.links import check_password_link, redeem_password_link
from newsletter.workspace.login import (
    CLIENT_WINDOW_SECONDS,
    Client,
    complete_second_factor,
    log_in,
)
from newsletter.workspace.sessions import (
    NewSession,
    SignedIn,
    csrf_matches,
    end_session,
    lookup_pending_login,
)
from newsletter.workspace.users import UserRow, log_out_everywhere

_EMAIL_LIMIT = 320


def _client(request: Request) -> Client:
    ip = client_ip(request)
    return Client(
        ip=ip,
        user_agent=request.headers.get("user-agent"),
        limiter=admin_state(request).login_limiter,
        limit_key=client_key(ip),
    )


def login_refusal(refusal: LoginRefused) -> tuple[str, dict[str, object]]:
    """The words key (and values) that say why a sign-in step was refused."""
    if refusal.reason == "locked" and refusal.until is not None:
        return "login_locked", {"until": f"{refusal.until:%Y-%m-%d %H:%M}"}
    if refusal.reason == "too-many-attempts":
        return "login_too_many", {"minutes": CLIENT_WINDOW_SECONDS // 60}
    return {"disabled": "login_disabled", "expired": "login_expired"}.get(refusal.reason, "login_wrong"), {}


def _login_page(
    request: Request,
    lang: str,
    *,
    status_code: int = 200,
    email: str = "",
    error: str = "",
    error_values: dict[str, object] | None = None,
    notice: str = "",
) -> Response:
    cookie = anonymous_csrf(request)
    response = render(
        request,
        "admin/login.html",
        lang,
        status_code=status_code,
        csrf_value=web(request).csrf.form_value(cookie),
        email=email,
        error=error,
        error_values=error_values or {},
        notice=notice,
        next_path=safe_next(request.query_params.get("next")),
    )
    return with_anonymous_csrf(response, request, cookie)


@public
async def login_form(request: Request) -> Response:
    notice = "password_saved" if request.query_params.get("done") == "password" else ""
    return _login_page(request, anonymous_language(request), notice=notice)


@public
async def login_submit(request: Request) -> Response:
    try:
        form = await text_form(request)
    except UnusableForm:
        return _login_page(request, anonymous_language(request), status_code=400, error="form_unusable")
    lang = anonymous_language(request, form)
    email = field(form, "email", _EMAIL_LIMIT)
    if not anonymous_csrf_ok(request, form):
        return _login_page(request, lang, status_code=403, email=email, error="form_expired")
    context = web(request)
    try:
        new = await in_thread(
            _log_in, context.engine, email, field(form, "password", passwords.MAX_LENGTH + 1), request
        )
    except LoginRefused as refusal:
        key, values = login_refusal(refusal)
        status = 429 if refusal.reason == "too-many-attempts" else 400
        return _login_page(request, lang, status_code=status, email=email, error=key, error_values=values)
    target = safe_next(field(form, "next", 2000))
    if new.session.second_factor_pending:
        response = see_other(CODE_STEP + "?" + urlencode({"next": target, "lang": lang}))
    else:
        response = see_other(target)
    set_session_cookie(response, request, new.token)
    return response


def _log_in(engine: Engine, email: str, password: str, request: Request) -> NewSession:
    return log_in(
        engine,
        email,
        password,
        admin_state(request).policy,
        client=_client(request),
        replaces=request.cookies.get(SESSION_COOKIE),
        now=utcnow(),
    )


def _second_factor(engine: Engine, code: str, request: Request) -> NewSession:
    return complete_second_factor(
        engine,
        request.cookies.get(SESSION_COOKIE),
        code,
        admin_state(request).policy,
        client=_client(request),
        now=utcnow(),
    )


def _pending(context: WebContext, token: str) -> SignedIn | None:
    with context.read() as conn:
        return lookup_pending_login(conn, token)


def _code_page(
    request: Request, lang: str, csrf_value: str, *, status_code: int = 200, error: str = "", **values: object
) -> Response:
    return render(
        request,
        "admin/login_code.html",
        lang,
        status_code=status_code,
        csrf_value=csrf_value,
        error=error,
        error_values=values,
        next_path=safe_next(request.query_params.get("next")),
    )


async def _pending_session(request: Request) -> SignedIn | None:
    """The half-finished sign-in (password right, code to come) of this request's cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    return await in_thread(_pending, web(request), token)


@public
async def code_form(request: Request) -> Response:
    pending = await _pending_session(request)
    if pending is None:
        return see_other(LOGIN)
    return _code_page(request, pending.user.language, pending.session.csrf_secret)


@public
async def code_submit(request: Request) -> Response:
    pending = await _pending_session(request)
    if pending is None:
        return see_other(LOGIN + "?" + urlencode({"lang": anonymous_language(request)}))
    user, csrf_secret = pending.user, pending.session.csrf_secret
    try:
        form = await text_form(request)
    except UnusableForm:
        return _code_page(request, user.language, csrf_secret, status_code=400, error="form_unusable")
    if not csrf_matches(pending.session, field(form, CSRF_FIELD)):
        return _code_page(request, user.language, csrf_secret, status_code=403, error="form_expired")
    context = web(request)
    try:
        new = await in_thread(_second_factor, context.engine, field(form, "code", 20), request)
    except LoginRefused as refusal:
        if refusal.reason == "wrong":
            return _code_page(request, user.language, csrf_secret, status_code=400, error="code_wrong")
        key, values = login_refusal(refusal)
        return _login_page(request, user.language, status_code=400, error=key, error_values=values)
    response = see_other(safe_next(field(form, "next", 2000)))
    set_session_cookie(response, request, new.token)
    return response


def _end(context: WebContext, token: str | None, ip: str) -> None:
    with context.write() as conn:
        end_session(conn, token, ip=ip)


@guarded(None)
async def logout(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    await context.in_writer(_end, context, request.cookies.get(SESSION_COOKIE), visitor.ip)
    response = see_other(LOGIN + "?" + urlencode({"lang": visitor.lang}))
    forget_session_cookie(response, request)
    return response


def _everywhere(context: WebContext, visitor: Visitor) -> None:
    with context.write() as conn:
        log_out_everywhere(conn, visitor.user, actor=visitor.actor())


@guarded(None)
async def logout_everywhere(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    await context.in_writer(_everywhere, context, visitor)
    response = see_other(LOGIN + "?" + urlencode({"lang": visitor.lang}))
    forget_session_cookie(response, request)
    return response


# --- set-password ------------------------------------------------------------------------------

_LINK_WORDS = {
    "unknown": "link_unknown",
    "used": "link_used",
    "expired": "link_expired",
    "disabled": "link_disabled",
}
_POLICY_WORDS: dict[str, tuple[str, dict[str, object]]] = {
    "too-short": ("password_too_short", {"length": passwords.MIN_LENGTH}),
    "too-long": ("password_too_long", {"length": passwords.MAX_LENGTH}),
    "is-email": ("password_is_email", {}),
}


def _link_user(context: WebContext, token: str) -> UserRow:
    with context.read() as conn:
        return check_password_link(conn, token)


def _link_problem(request: Request, lang: str, refusal: LinkRefused) -> Response:
    return message(
        request,
        lang,
        410 if refusal.reason in ("used", "expired") else 404,
        "link_problem_title",
        _LINK_WORDS.get(refusal.reason, "link_unknown"),
        link=LOGIN,
    )


def _password_page(
    request: Request,
    user: UserRow,
    lang: str,
    *,
    status_code: int = 200,
    error: str = "",
    error_values: dict[str, object] | None = None,
) -> Response:
    cookie = anonymous_csrf(request)
    response = render(
        request,
        "admin/set_password.html",
        lang,
        status_code=status_code,
        csrf_value=web(request).csrf.form_value(cookie),
        email=user.email,
        action=request.scope["path"],
        error=error,
        error_values=error_values or {},
        min_length=passwords.MIN_LENGTH,
    )
    return with_anonymous_csrf(response, request, cookie)


@public
async def set_password_form(request: Request) -> Response:
    context = web(request)
    try:
        user = await in_thread(_link_user, context, request.path_params["token"])
    except LinkRefused as refusal:
        return _link_problem(request, anonymous_language(request), refusal)
    lang = pick_user_language(request, user)
    return _password_page(request, user, lang)


def pick_user_language(request: Request, user: UserRow) -> str:
    """The set-password page speaks the user's language unless they switched with ``?lang=``."""
    return anonymous_language(request) if "lang" in request.query_params else user.language


def _redeem(context: WebContext, token: str, password: str, ip: str) -> UserRow:
    with context.write() as conn:
        return redeem_password_link(conn, token, password, ip=ip)


@public
async def set_password_submit(request: Request) -> Response:
    context = web(request)
    token = request.path_params["token"]
    try:
        user = await in_thread(_link_user, context, token)
    except LinkRefused as refusal:
        return _link_problem(request, anonymous_language(request), refusal)
    try:
        form = await text_form(request)
    except UnusableForm:
        return _password_page(request, user, user.language, status_code=400, error="form_unusable")
    lang = anonymous_language(request, form) if field(form, "lang") else user.language
    if not anonymous_csrf_ok(request, form):
        return _password_page(request, user, lang, status_code=403, error="form_expired")
    password = field(form, "password", passwords.MAX_LENGTH + 1)
    if password != field(form, "repeat", passwords.MAX_LENGTH + 1):
        return _password_page(request, user, lang, status_code=400, error="password_mismatch")
    try:
        await context.in_writer(_redeem, context, token, password, client_ip(request))
    except PasswordRejected as rejected:
        key, values = _POLICY_WORDS.get(rejected.reason, _POLICY_WORDS["too-short"])
        return _password_page(request, user, lang, status_code=400, error=key, error_values=values)
    except LinkRefused as refusal:
        return _link_problem(request, lang, refusal)
    return see_other(LOGIN + "?" + urlencode({"done": "password", "lang": lang}))


routes = [
    Route(LOGIN, login_form, methods=["GET"]),
    Route(LOGIN, login_submit, methods=["POST"]),
    Route(CODE_STEP, code_form, methods=["GET"]),
    Route(CODE_STEP, code_submit, methods=["POST"]),
    Route("/admin/logout", logout, methods=["POST"]),
    Route("/admin/logout-everywhere", logout_everywhere, methods=["POST"]),
    Route("/admin/set-password/{token}", set_password_form, methods=["GET"]),
    Route("/admin/set-password/{token}", set_password_submit, methods=["POST"]),
]
