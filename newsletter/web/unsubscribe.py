"""Unsubscribe (``/u/TOKEN``, RFC 8058 one-click) and the preference page (``/preferences/TOKEN``).

A GET never changes anything (mail scanners prefetch links): it shows a
button. A POST unsubscribes at once; the send engine checks memberships again
when it claims a batch, so a send in progress skips the person too.

The one-click POST a mailbox provider makes (body ``List-Unsubscribe=One-Click``,
urlencoded or multipart) needs no cookie or CSRF token — the signed token in
the URL is the authority — and is answered 200, never with a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from newsletter.errors import NotFound, TokenError
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.lists import ListRow
from newsletter.tokens import UnsubscribeClaim
from newsletter.web.app import WebContext, in_thread, web
from newsletter.web.i18n import translator

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"


@dataclass(frozen=True)
class _Target:
    """Who an unsubscribe link is for and which list (None: every list)."""

    subscriber_id: int
    language: str | None
    the_list: ListRow | None
    known: bool


def _target(context: WebContext, claim: UnsubscribeClaim) -> _Target:
    with context.read() as conn:
        subscriber = subscriber_store.get_subscriber_by_id(conn, claim.subscriber_id)
        the_list = None
        if claim.list_id is not None:
            try:
                the_list = list_store.get_list_by_id(conn, claim.list_id)
            except NotFound:
                the_list = None
        return _Target(
            claim.subscriber_id, subscriber.language if subscriber else None, the_list, subscriber is not None
        )


def _unsubscribe(context: WebContext, claim: UnsubscribeClaim, source: str) -> bool:
    # An erased person has no memberships left, so this is a harmless no-op for them.
    with context.write() as conn:
        return subscriber_store.unsubscribe(conn, claim.subscriber_id, claim.list_id, source=source)


def _bad_link(context: WebContext, request: Request) -> Response:
    return context.page(
        request,
        "token_problem.html",
        context.language(request),
        400,
        expired=False,
        days=context.settings.confirm_days,
    )


async def unsubscribe_page(request: Request) -> Response:
    context = web(request)
    try:
        claim = context.signer.read_unsubscribe(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    target = await in_thread(_target, context, claim)
    lang = context.language(request, target.the_list.language if target.the_list else None, target.language)
    return context.page(
        request,
        "unsubscribe.html",
        lang,
        target=target,
        action=request.url.path,
        preferences_url="/preferences/" + context.signer.preferences_token(claim.subscriber_id),
    )


async def unsubscribe_submit(request: Request) -> Response:
    context = web(request)
    try:
        claim = context.signer.read_unsubscribe(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    form = await request.form()
    if str(form.get(ONE_CLICK_FIELD) or "") == ONE_CLICK_VALUE:
        # A mailbox provider's machine request: unsubscribe, answer 200 with a short page, no redirect.
        await in_thread(_unsubscribe, context, claim, "one-click")
        return one_click_answer(context.language(request))
    await in_thread(_unsubscribe, context, claim, "link")
    target = await in_thread(_target, context, claim)
    lang = context.language(
        request,
        str(form.get("lang") or ""),
        target.the_list.language if target.the_list else None,
        target.language,
    )
    return context.page(
        request,
        "unsubscribed.html",
        lang,
        target=target,
        preferences_url="/preferences/" + context.signer.preferences_token(claim.subscriber_id),
    )


def one_click_answer(lang: str) -> Response:
    t = translator(lang)
    text = f'<!doctype html><html lang="{lang}"><title>{t("unsubscribed_heading")}</title><h1>{t("unsubscribed_heading")}</h1>\n'
    return HTMLResponse(text, headers={"Cache-Control": "no-store"})


@dataclass(frozen=True)
class _Preferences:
    language: str | None
    memberships: list[tuple[ListRow, str]]


def _preferences(context: WebContext, subscriber_id: int) -> _Preferences | None:
    with context.read() as conn:
        subscriber = subscriber_store.get_subscriber_by_id(conn, subscriber_id)
        if subscriber is None:
            return None
        return _Preferences(subscriber.language, subscriber_store.memberships_of(conn, subscriber_id))


def _apply_preferences(context: WebContext, subscriber_id: int, keep: set[int], leave_all: bool) -> None:
    with context.write() as conn:
        if subscriber_store.get_subscriber_by_id(conn, subscriber_id) is None:
            return
        if leave_all:
            subscriber_store.unsubscribe(conn, subscriber_id, None, source="preferences")
            return
        for the_list, state in subscriber_store.memberships_of(conn, subscriber_id):
            if state != "unsubscribed" and the_list.id not in keep:
                subscriber_store.unsubscribe(conn, subscriber_id, the_list.id, source="preferences")


async def preferences_page(request: Request) -> Response:
    return await _preferences_response(request, saved=False)


async def preferences_submit(request: Request) -> Response:
    context = web(request)
    try:
        subscriber_id = context.signer.read_preferences(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    form = await request.form()
    keep = {int(str(value)) for value in form.getlist("keep") if str(value).isdigit()}
    await in_thread(_apply_preferences, context, subscriber_id, keep, "leave_all" in form)
    return await _preferences_response(request, saved=True, form_lang=str(form.get("lang") or ""))


async def _preferences_response(request: Request, *, saved: bool, form_lang: str = "") -> Response:
    context = web(request)
    try:
        subscriber_id = context.signer.read_preferences(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    found = await in_thread(_preferences, context, subscriber_id)
    lang = context.language(request, form_lang, found.language if found else None)
    return context.page(
        request,
        "preferences.html",
        lang,
        memberships=found.memberships if found else [],
        known=found is not None,
        saved=saved,
        action=request.url.path,
    )


routes = [
    Route("/u/{token}", unsubscribe_page, methods=["GET"]),
    Route("/u/{token}", unsubscribe_submit, methods=["POST"]),
    Route("/preferences/{token}", preferences_page, methods=["GET"]),
    Route("/preferences/{token}", preferences_submit, methods=["POST"]),
]
