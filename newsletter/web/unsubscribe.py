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
from functools import cache

from sqlalchemy import bindparam
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from newsletter.errors import NotFound, TokenError
from newsletter.links import preferences_path
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.lists import ListRow, utcnow
from newsletter.store.schema import consent_log, memberships
from newsletter.tokens import LinkOwner, PreferencesClaim, UnsubscribeClaim
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.forms import UnusableForm, text_form, unusable_form_page
from newsletter.web.i18n import translator

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
_ONE_CLICK_BODY = f"{ONE_CLICK_FIELD}={ONE_CLICK_VALUE}".encode()


@dataclass(frozen=True)
class _Target:
    """Who an unsubscribe link is for and which list (None: every list)."""

    owner: LinkOwner | None  # None: the person the link was made for no longer exists
    language: str | None
    the_list: ListRow | None
    list_gone: bool = False  # the link names a list that has since been deleted
    already: bool = False  # already unsubscribed from the list (or has no membership on it)

    @property
    def known(self) -> bool:
        return self.owner is not None


def _target(context: WebContext, claim: UnsubscribeClaim) -> _Target:
    with context.read() as conn:
        subscriber = subscriber_store.subscriber_for_link(conn, claim.subscriber_id, claim.link_key)
        the_list = None
        gone = already = False
        if claim.list_id is not None:
            try:
                the_list = list_store.get_list_by_id(conn, claim.list_id)
            except NotFound:
                gone = True
            if the_list is not None and subscriber is not None:
                state = subscriber_store.membership_state(conn, subscriber.id, the_list.id)
                already = state in (None, "unsubscribed")
        return _Target(
            subscriber.link_owner if subscriber else None,
            subscriber.language if subscriber else None,
            the_list,
            gone,
            already,
        )


def _preferences_url(context: WebContext, target: _Target) -> str:
    # Made afresh from the person's row: an old (version 1) link leads on to a bound one.
    return preferences_path(context.signer, target.owner) if target.owner else ""


# The one-list unsubscribe every link and one-click request makes, as two statements built
# once: SQLAlchemy then skips rebuilding and re-keying them on every request. It records
# exactly what subscriber_store.unsubscribe records (tests/web/test_unsubscribe.py compares).
_END_MEMBERSHIP = (
    memberships.update()
    .where(
        memberships.c.subscriber_id == bindparam("b_subscriber"),
        memberships.c.list_id == bindparam("b_list"),
        memberships.c.state != "unsubscribed",
    )
    .values(
        state="unsubscribed",
        updated_at=bindparam("b_now"),
        unsubscribed_at=bindparam("b_now"),
        unsubscribe_source=bindparam("b_source"),
    )
)
_LOG_UNSUBSCRIBE = consent_log.insert()
_SOURCE_METHOD = "form"  # link and one-click both arrive through a web form (subscribers.py's table)


def _unsubscribe(context: WebContext, claim: UnsubscribeClaim, source: str) -> bool:
    # An erased person has no memberships left, and a deleted list none either: a harmless no-op.
    with context.write() as conn:
        # In the same transaction as the change: the link acts on the person it was made for
        # or on nobody, never on whoever holds the id now.
        subscriber_id = subscriber_store.link_holder_id(conn, claim.subscriber_id, claim.link_key)
        if subscriber_id is None:
            return False
        if claim.list_id is None:
            return subscriber_store.unsubscribe(conn, subscriber_id, None, source=source)
        now = utcnow()
        ended = conn.execute(
            _END_MEMBERSHIP,
            {"b_subscriber": subscriber_id, "b_list": claim.list_id, "b_now": now, "b_source": source},
        ).rowcount
        if not ended:
            return False
        conn.execute(
            _LOG_UNSUBSCRIBE,
            {
                "subscriber_id": subscriber_id,
                "list_id": claim.list_id,
                "action": "unsubscribe",
                "method": _SOURCE_METHOD,
                "source": source,
                "consent_text": "",
                "ip": None,
                "at": now,
            },
        )
        return True


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
        preferences_url=_preferences_url(context, target),
    )


async def unsubscribe_submit(request: Request) -> Response:
    context = web(request)
    try:
        claim = context.signer.read_unsubscribe(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    try:
        if not request.headers.get("content-type"):
            # RFC 8058 asks for a form content type; a client that leaves it out still means it.
            one_click = (await request.body()).strip() == _ONE_CLICK_BODY
            form = await text_form(request)
        else:
            form = await text_form(request)
            one_click = form.get(ONE_CLICK_FIELD) == ONE_CLICK_VALUE
    except UnusableForm:
        return unusable_form_page(context, request)
    if one_click:
        # A mailbox provider's machine request: unsubscribe, answer 200 with a short page, no redirect.
        await context.in_writer(_unsubscribe, context, claim, "one-click")
        return one_click_answer(context.language(request))
    await context.in_writer(_unsubscribe, context, claim, "link")
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
        preferences_url=_preferences_url(context, target),
    )


def one_click_answer(lang: str) -> Response:
    return HTMLResponse(_one_click_page(lang), headers={"Cache-Control": "no-store"})


@cache
def _one_click_page(lang: str) -> str:
    heading = translator(lang)("unsubscribed_heading")
    return f'<!doctype html><html lang="{lang}"><title>{heading}</title><h1>{heading}</h1>\n'


@dataclass(frozen=True)
class _Preferences:
    language: str | None
    memberships: list[tuple[ListRow, str]]


def _preferences(context: WebContext, claim: PreferencesClaim) -> _Preferences | None:
    with context.read() as conn:
        subscriber = subscriber_store.subscriber_for_link(conn, claim.subscriber_id, claim.link_key)
        if subscriber is None:
            return None
        return _Preferences(subscriber.language, subscriber_store.memberships_of(conn, subscriber.id))


def _apply_preferences(context: WebContext, claim: PreferencesClaim, keep: set[int], leave_all: bool) -> None:
    with context.write() as conn:
        subscriber = subscriber_store.subscriber_for_link(conn, claim.subscriber_id, claim.link_key)
        if subscriber is None:
            return
        if leave_all:
            subscriber_store.unsubscribe(conn, subscriber.id, None, source="preferences")
            return
        for the_list, state in subscriber_store.memberships_of(conn, subscriber.id):
            if state != "unsubscribed" and the_list.id not in keep:
                subscriber_store.unsubscribe(conn, subscriber.id, the_list.id, source="preferences")


async def preferences_page(request: Request) -> Response:
    return await _preferences_response(request, saved=False)


async def preferences_submit(request: Request) -> Response:
    context = web(request)
    try:
        claim = context.signer.read_preferences(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    try:
        form = await text_form(request)
    except UnusableForm:
        return unusable_form_page(context, request)
    keep = {list_id for value in form.getlist("keep") if (list_id := _list_id(value)) is not None}
    await context.in_writer(_apply_preferences, context, claim, keep, "leave_all" in form)
    return await _preferences_response(request, saved=True, form_lang=str(form.get("lang") or ""))


def _list_id(value: object) -> int | None:
    """A list id from the form; None for anything else ("²", a 5,000-digit "number", a file)."""
    text = value if isinstance(value, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


async def _preferences_response(request: Request, *, saved: bool, form_lang: str = "") -> Response:
    context = web(request)
    try:
        claim = context.signer.read_preferences(request.path_params["token"])
    except TokenError:
        return _bad_link(context, request)
    found = await in_thread(_preferences, context, claim)
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
