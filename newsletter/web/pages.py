"""Sign-up with double opt-in: ``/subscribe/LIST`` and ``/confirm/TOKEN``.

The sign-up answer is the same "check your inbox" page whether the address
is new, already subscribed or suppressed, so the form cannot be used to
learn who is on a list. The form is guarded by a CSRF token, a honeypot
field and per-IP and per-address rate limits. Confirming needs a POST (a
GET only shows a button) because mail scanners open links.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import NotFound, ProviderError, RenderError, TokenError, TokenExpired
from newsletter.safe_text import header_text_problem
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.lists import ListRow
from newsletter.tokens import ConfirmClaim, LinkOwner
from newsletter.web.confirm_mail import send_confirmation
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.forms import UnusableForm, text_form, unusable_form_page
from newsletter.web.security import CSRF_COOKIE, CSRF_FIELD

log = logging.getLogger("newsletter.web")
HONEYPOT_FIELD = "website"
_NAME_LIMIT = 200


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _find_list(context: WebContext, name: str) -> ListRow | None:
    with context.read() as conn:
        try:
            return list_store.get_list(conn, name)
        except NotFound:
            return None


def _not_found(context: WebContext, request: Request, lang: str) -> Response:
    return context.page(
        request, "message.html", lang, 404, heading_key="not_found_heading", body_key="not_found_body"
    )


def _form_page(
    context: WebContext,
    request: Request,
    the_list: ListRow,
    lang: str,
    *,
    status_code: int = 200,
    error: str = "",
    email: str = "",
    name: str = "",
) -> Response:
    cookie = request.cookies.get(CSRF_COOKIE) or context.csrf.new_cookie_value()
    response = context.page(
        request,
        "subscribe.html",
        lang,
        status_code,
        the_list=the_list,
        csrf_field=CSRF_FIELD,
        csrf_value=context.csrf.form_value(cookie),
        honeypot_field=HONEYPOT_FIELD,
        error=error,
        email=email,
        name=name,
    )
    response.set_cookie(
        CSRF_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/subscribe",
    )
    return response


async def subscribe_form(request: Request) -> Response:
    context = web(request)
    the_list = await in_thread(_find_list, context, request.path_params["list_name"])
    if the_list is None:
        return _not_found(context, request, context.language(request))
    return _form_page(context, request, the_list, context.language(request, the_list.language))


@dataclass(frozen=True)
class _SignUp:
    owner: LinkOwner
    email: str
    name: str | None
    send_confirmation: bool


def _register_sign_up(
    context: WebContext, the_list: ListRow, email: str, name: str | None, lang: str, ip: str
) -> _SignUp | None:
    try:
        return _register_sign_up_once(context, the_list, email, name, lang, ip)
    except IntegrityError:
        # The same address sent at the same instant by another request (a double-clicked submit,
        # a second instance) was stored first. Done again, this request finds that row and adds
        # nothing twice; a second failure is a real error.
        return _register_sign_up_once(context, the_list, email, name, lang, ip)


def _register_sign_up_once(
    context: WebContext, the_list: ListRow, email: str, name: str | None, lang: str, ip: str
) -> _SignUp | None:
    with context.write() as conn:
        row = subscriber_store.set_pending(
            conn,
            email,
            the_list.id,
            name=name,
            language=lang,
            method="form",
            source="web sign-up",
            consent_text=the_list.consent_text,
            ip=ip,
        )
        if row is None:  # suppressed: say nothing, send nothing
            return None
        state = subscriber_store.membership_state(conn, row.id, the_list.id)
        return _SignUp(row.link_owner, row.email, row.name, state == "pending")


async def subscribe_submit(request: Request) -> Response:
    context = web(request)
    the_list = await in_thread(_find_list, context, request.path_params["list_name"])
    try:
        form = await text_form(request)
    except UnusableForm as exc:
        log.info("sign-up form refused: %s", exc)
        lang = context.language(request, the_list.language if the_list else None)
        if the_list is None:
            return _not_found(context, request, lang)
        return _form_page(context, request, the_list, lang, status_code=400, error="form_unusable")
    lang = context.language(request, str(form.get("lang") or ""), the_list.language if the_list else None)
    if the_list is None:
        return _not_found(context, request, lang)
    raw_email = str(form.get("email") or "").strip()[:320]
    name = " ".join(str(form.get("name") or "").split())[:_NAME_LIMIT] or None
    if name is not None and header_text_problem(name) is not None:
        # The name becomes the display name in the To: header of every email: no control characters.
        return _form_page(
            context, request, the_list, lang, status_code=400, error="invalid_name", email=raw_email
        )
    if not context.csrf.is_valid(request.cookies.get(CSRF_COOKIE), str(form.get(CSRF_FIELD) or "")):
        return _form_page(
            context,
            request,
            the_list,
            lang,
            status_code=403,
            error="form_expired",
            email=raw_email,
            name=name or "",
        )
    check_inbox = context.page(
        request, "check_inbox.html", lang, the_list=the_list, days=context.settings.confirm_days
    )
    if str(form.get(HONEYPOT_FIELD) or ""):
        log.info("sign-up to %s dropped: honeypot field filled", the_list.name)
        return check_inbox
    try:
        address = normalise(raw_email)
    except InvalidAddress:
        return _form_page(
            context,
            request,
            the_list,
            lang,
            status_code=400,
            error="invalid_email",
            email=raw_email,
            name=name or "",
        )
    ip = client_ip(request)
    if not await context.in_writer(context.sign_up_allowed, ip, email_hash(address)):
        log.warning("sign-up to %s refused: rate limit", the_list.name)
        return context.page(request, "message.html", lang, 429, heading_key="too_many", body_key="too_many")
    sign_up = await context.in_writer(_register_sign_up, context, the_list, address, name, lang, ip)
    if sign_up is not None and sign_up.send_confirmation:
        # Sent after the answer: a provider call takes long enough that answering only after it
        # would tell, by timing, which addresses are already known.
        check_inbox.background = BackgroundTask(_send_confirmation_logged, context, the_list, sign_up, lang)
    return check_inbox


def _send_confirmation_logged(context: WebContext, the_list: ListRow, sign_up: _SignUp, lang: str) -> None:
    try:
        send_confirmation(context, the_list, sign_up.owner, sign_up.email, sign_up.name, lang)
    except (ProviderError, RenderError) as exc:
        log.error(
            "confirmation email for list %s (subscriber %s) could not be sent: %s — they can sign up again",
            the_list.name,
            sign_up.owner.subscriber_id,
            exc,
        )


def _read_claim(context: WebContext, token: str) -> ConfirmClaim:
    return context.signer.read_confirm(token, max_age_seconds=context.settings.confirm_days * 86400)


_CENTURY_SECONDS = 100 * 365 * 86400


def _token_problem(
    context: WebContext, request: Request, lang: str, exc: TokenError, the_list: ListRow | None = None
) -> Response:
    expired = isinstance(exc, TokenExpired)
    return context.page(
        request,
        "token_problem.html",
        lang,
        400 if not expired else 410,
        expired=expired,
        days=context.settings.confirm_days,
        restart_url=f"/subscribe/{the_list.name}?lang={lang}" if the_list else "",
    )


async def _bad_confirm_link(
    context: WebContext, request: Request, lang: str, token: str, exc: TokenError
) -> Response:
    """The friendly page for a bad confirmation link; an expired one leads back to its own list's form."""
    the_list = None
    if isinstance(exc, TokenExpired):
        # The signature is good, only old: the list it names is trustworthy enough to link to.
        try:
            claim = context.signer.read_confirm(token, max_age_seconds=_CENTURY_SECONDS)
        except TokenError:  # old and unusable too: the plain "expired" page without a link
            claim = None
        if claim is not None:
            the_list = await in_thread(_list_or_none, context, claim.list_id)
    return _token_problem(context, request, lang, exc, the_list)


def _list_or_none(context: WebContext, list_id: int) -> ListRow | None:
    with context.read() as conn:
        try:
            return list_store.get_list_by_id(conn, list_id)
        except NotFound:
            return None


async def confirm_page(request: Request) -> Response:
    context = web(request)
    try:
        claim = _read_claim(context, request.path_params["token"])
    except TokenError as exc:
        return await _bad_confirm_link(
            context, request, context.language(request), request.path_params["token"], exc
        )
    the_list = await in_thread(_list_or_none, context, claim.list_id)
    if the_list is None:
        return _token_problem(context, request, context.language(request), TokenError("list gone"))
    lang = context.language(request, the_list.language)
    return context.page(request, "confirm.html", lang, the_list=the_list, action=request.url.path)


def _confirm(context: WebContext, claim: ConfirmClaim, the_list: ListRow, ip: str) -> bool | None:
    """True when confirmed now, False when it already was, None when the person is gone."""
    with context.write() as conn:
        # Only the person the link was made for: a recycled id must not confirm someone else.
        subscriber = subscriber_store.subscriber_for_link(conn, claim.subscriber_id, claim.link_key)
        if subscriber is None:
            return None
        changed = subscriber_store.confirm(
            conn,
            subscriber.id,
            claim.list_id,
            ip=ip,
            consent_text=the_list.consent_text,
            method="form",
            source="web confirmation link",
        )
        if changed:
            return True
        state = subscriber_store.membership_state(conn, subscriber.id, claim.list_id)
        return False if state == "subscribed" else None


async def confirm_submit(request: Request) -> Response:
    context = web(request)
    try:
        form = await text_form(request)
    except UnusableForm:
        return unusable_form_page(context, request)
    lang = context.language(request, str(form.get("lang") or ""))
    try:
        claim = _read_claim(context, request.path_params["token"])
    except TokenError as exc:
        return await _bad_confirm_link(context, request, lang, request.path_params["token"], exc)
    the_list = await in_thread(_list_or_none, context, claim.list_id)
    if the_list is None:
        return _token_problem(context, request, lang, TokenError("list gone"))
    lang = context.language(request, str(form.get("lang") or ""), the_list.language)
    outcome = await context.in_writer(_confirm, context, claim, the_list, client_ip(request))
    if outcome is None:
        # Unsubscribed, suppressed or erased since: a fresh sign-up is the honest way back.
        return _token_problem(context, request, lang, TokenError("nothing to confirm"), the_list)
    return context.page(request, "confirmed.html", lang, the_list=the_list)


routes = [
    Route("/subscribe/{list_name}", subscribe_form, methods=["GET"]),
    Route("/subscribe/{list_name}", subscribe_submit, methods=["POST"]),
    Route("/confirm/{token}", confirm_page, methods=["GET"]),
    Route("/confirm/{token}", confirm_submit, methods=["POST"]),
]
