"""My account: the workspace language, two-factor sign-in, and signing out everywhere.

Turning two-factor sign-in on shows a new secret as a QR code (inline SVG,
made by segno, so nothing leaves the server) and as text, and is only
stored once a code from the app proves the app has it
(:func:`newsletter.workspace.users.enable_totp`). Turning it off asks for a
current code too, so a session left open on a shared computer cannot
quietly remove it.
"""

from __future__ import annotations

import re
from urllib.parse import urlencode

import segno
from markupsafe import Markup, escape
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.dates import LANGUAGES
from newsletter.errors import AccountError
from newsletter.web.admin.guard import Visitor, field, guarded, render, see_other
from newsletter.web.admin.words import admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace import totp
from newsletter.workspace.sessions import sessions_of
from newsletter.workspace.users import accept_totp_code, enable_totp, remove_totp, update_profile

ACCOUNT = "/admin/account"
TOTP = ACCOUNT + "/totp"
_SECRET = re.compile(r"[A-Z2-7]{16,64}")
NOTICES = {"language": "language_saved", "totp-on": "totp_enabled", "totp-off": "totp_removed"}


def _session_count(context: WebContext, visitor: Visitor) -> int:
    with context.read() as conn:
        return len(sessions_of(conn, visitor.user))


async def _account_page(
    request: Request, visitor: Visitor, *, status_code: int = 200, error: str = "", notice: str = ""
) -> Response:
    return render(
        request,
        "admin/account.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        languages=LANGUAGES,
        error=error,
        notice=notice,
        session_count=await in_thread(_session_count, web(request), visitor),
    )


@guarded(None)
async def account_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    notice = NOTICES.get(request.query_params.get("done", ""), "")
    return await _account_page(request, visitor, notice=notice)


def _set_language(context: WebContext, visitor: Visitor, language: str) -> None:
    with context.write() as conn:
        update_profile(conn, visitor.user, actor=visitor.actor(), language=language)


@guarded(None)
async def change_language(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    try:
        await context.in_writer(_set_language, context, visitor, field(form, "language", 5))
    except AccountError:
        return await _account_page(request, visitor, status_code=400, error="error_bad_language")
    return see_other(ACCOUNT + "?" + urlencode({"done": "language"}))


def qr_svg(uri: str, label: str) -> Markup:
    """The ``otpauth://`` URI as an inline SVG QR code (no style attributes: the CSP allows none)."""
    svg = segno.make(uri, error="m").svg_inline(scale=4, border=4, dark="#000", light="#fff", title=label)
    labelled = f'<svg role="img" aria-label="{escape(label)}" '
    return Markup(svg.replace("<svg ", labelled, 1))  # segno's own SVG, with our escaped label


def _enrol_page(
    request: Request, visitor: Visitor, secret: str, *, status_code: int = 200, error: str = ""
) -> Response:
    issuer = web(request).settings.organisation.name
    uri = totp.provisioning_uri(secret, visitor.user.email, issuer)
    return render(
        request,
        "admin/totp.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        secret=secret,
        grouped_secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
        uri=uri,
        qr=qr_svg(uri, admin_translator(visitor.lang)("totp_qr_label")),
        error=error,
    )


@guarded(None)
async def totp_form(request: Request, visitor: Visitor, form: FormData) -> Response:
    if visitor.user.totp_enabled:
        return see_other(ACCOUNT)
    return _enrol_page(request, visitor, totp.new_secret())


def _enable(context: WebContext, visitor: Visitor, secret: str, code: str) -> None:
    with context.write() as conn:
        enable_totp(conn, visitor.user, secret, code, actor=visitor.actor())


@guarded(None)
async def totp_confirm(request: Request, visitor: Visitor, form: FormData) -> Response:
    if visitor.user.totp_enabled:
        return see_other(ACCOUNT)
    secret = field(form, "secret", 64)
    if not _SECRET.fullmatch(secret):
        return _enrol_page(request, visitor, totp.new_secret(), status_code=400, error="form_expired")
    context = web(request)
    try:
        await context.in_writer(_enable, context, visitor, secret, field(form, "code", 20))
    except AccountError:
        return _enrol_page(request, visitor, secret, status_code=400, error="code_wrong")
    return see_other(ACCOUNT + "?" + urlencode({"done": "totp-on"}))


def _remove(context: WebContext, visitor: Visitor, code: str) -> bool:
    with context.write() as conn:
        if not accept_totp_code(conn, visitor.user, code):
            return False
        remove_totp(conn, visitor.user, actor=visitor.actor())
        return True


@guarded(None)
async def totp_remove(request: Request, visitor: Visitor, form: FormData) -> Response:
    if not visitor.user.totp_enabled:
        return see_other(ACCOUNT)
    context = web(request)
    try:
        removed = await context.in_writer(_remove, context, visitor, field(form, "code", 20))
    except AccountError:  # the secret cannot be read with this key: only an admin's reset helps
        return await _account_page(request, visitor, status_code=400, error="totp_unreadable")
    if not removed:
        return await _account_page(request, visitor, status_code=400, error="code_wrong")
    return see_other(ACCOUNT + "?" + urlencode({"done": "totp-off"}))


routes = [
    Route(ACCOUNT, account_page, methods=["GET"]),
    Route(ACCOUNT + "/language", change_language, methods=["POST"]),
    Route(TOTP, totp_form, methods=["GET"]),
    Route(TOTP, totp_confirm, methods=["POST"]),
    Route(TOTP + "/remove", totp_remove, methods=["POST"]),
]
