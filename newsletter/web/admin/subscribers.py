"""Subscribers (admins): search, one person's page, add, unsubscribe, export their data, erase them.

Every change is the store's, as ``newsletter subscribers`` makes it:
:func:`~newsletter.store.subscribers.subscribe` (consent logged as method
``manual``, source ``workspace``), :func:`~newsletter.store.subscribers.unsubscribe`,
:func:`~newsletter.store.gdpr.export_data` and :func:`~newsletter.store.gdpr.erase`;
the search is :func:`~newsletter.store.search.search_subscribers`.

Each is audited in the same transaction, with the signed-in admin as the
actor. The audit log names a subscriber by id (``subscriber:42``), never by
address: the log cannot be changed, and an erased person must leave no
address behind. After a change the browser is sent on with a notice (so a
reload does not post again); erasing ends on the search, whose notice names
nobody.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.dates import LANGUAGES
from newsletter.errors import NotFound
from newsletter.safe_text import header_text_problem, stored_text_problem
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.gdpr import (
    ConsentEntry,
    PersonDelivery,
    PersonEvent,
    consent_history,
    recent_deliveries,
    recent_events,
)
from newsletter.store.lists import ListRow, all_lists, get_list_by_id, utcnow
from newsletter.store.schema import SUPPRESSION_REASONS
from newsletter.store.search import MATCH_LIMIT, SearchResult, search_subscribers
from newsletter.store.subscribers import (
    SubscriberRow,
    SubscriptionRefused,
    get_subscriber_by_hash,
    get_subscriber_by_id,
    memberships_of,
    subscribe,
    suppression_reason,
    unsubscribe,
)
from newsletter.web.admin.guard import Visitor, download, field, guarded, message, render, see_other
from newsletter.web.admin.sending import number_text
from newsletter.web.admin.words import admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace.audit import record
from newsletter.workspace.people import audit_subject, erase_recorded, export_data_recorded

SUBSCRIBERS = "/admin/subscribers"
NEW = SUBSCRIBERS + "/new"
SOURCE = "workspace"  # how workspace changes are recorded on memberships and in the consent log
NAME_LIMIT = 200  # the subscribers.name column
NOTE_LIMIT = 2000
PERSON_NOTICES = ("unsubscribed", "unsubscribed_all", "nothing", "added", "updated", "unchanged")


def person_url(subscriber_id: int, **query: Any) -> str:
    url = f"{SUBSCRIBERS}/{subscriber_id}"
    return url + "?" + urlencode(query) if query else url


def _number(text: str | None) -> int | None:
    return int(text) if text and text.isdigit() and len(text) < 10 else None


def _not_found(request: Request, visitor: Visitor) -> Response:
    return message(
        request, visitor.lang, 404, "not_found_title", "not_found_body", visitor=visitor, link="/admin/"
    )


# --- search -------------------------------------------------------------------------------------


def _search(
    context: WebContext, text: str, list_name: str, page: int
) -> tuple[SearchResult, list[ListRow], ListRow | None]:
    with context.read() as conn:
        choices = all_lists(conn)
        chosen = next((each for each in choices if each.name == list_name), None)
        found = search_subscribers(conn, text, list_id=chosen.id if chosen else None, page=page)
        return found, choices, chosen


def _page_url(text: str, chosen: ListRow | None, page: int) -> str:
    query: dict[str, Any] = {}
    if text:
        query["q"] = text
    if chosen is not None:
        query["list"] = chosen.name
    if page > 1:
        query["page"] = page
    return SUBSCRIBERS + ("?" + urlencode(query) if query else "")


@guarded("subscribers.manage")
async def search_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    params = request.query_params
    text = (params.get("q") or "")[:200]
    found, choices, chosen = await in_thread(
        _search, web(request), text, params.get("list") or "", _number(params.get("page")) or 1
    )
    return render(
        request,
        "admin/subscribers.html",
        visitor.lang,
        visitor=visitor,
        text=text,
        found=found,
        choices=choices,
        chosen=chosen,
        shown_total=number_text(found.total, visitor.lang),
        limit=number_text(MATCH_LIMIT, visitor.lang),
        previous_url=_page_url(text, chosen, found.page - 1) if found.page > 1 else "",
        next_url=_page_url(text, chosen, found.page + 1) if found.page < found.pages else "",
        notice="subs_notice_erased" if params.get("notice") == "erased" else "",
        reason_text=functools.partial(reason_text, admin_translator(visitor.lang)),
    )


# --- one subscriber -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Person:
    """One subscriber as their page shows them (the history only where the page needs it)."""

    subscriber: SubscriberRow
    suppressed: str | None
    memberships: list[tuple[ListRow, str]]
    consent: list[ConsentEntry]
    deliveries: list[PersonDelivery]
    events: list[PersonEvent]


def _person(context: WebContext, subscriber_id: int, *, history: bool = True) -> Person | None:
    with context.read() as conn:
        subscriber = get_subscriber_by_id(conn, subscriber_id)
        if subscriber is None:
            return None
        return Person(
            subscriber,
            suppression_reason(conn, subscriber.email_hash),
            memberships_of(conn, subscriber.id),
            consent_history(conn, subscriber) if history else [],
            recent_deliveries(conn, subscriber) if history else [],
            recent_events(conn, subscriber) if history else [],
        )


async def _found(request: Request, *, history: bool = True) -> Person | None:
    subscriber_id = _number(request.path_params["subscriber_id"])
    if subscriber_id is None:
        return None
    return await in_thread(functools.partial(_person, history=history), web(request), subscriber_id)


@guarded("subscribers.manage")
async def person_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    person = await _found(request)
    if person is None:
        return _not_found(request, visitor)
    wanted = request.query_params.get("notice", "")
    notice = "subs_notice_" + wanted if wanted in PERSON_NOTICES else ""
    return render(
        request,
        "admin/subscriber.html",
        visitor.lang,
        visitor=visitor,
        person=person,
        subscribed=[the_list for the_list, state in person.memberships if state != "unsubscribed"],
        notice=notice,
        notice_values={"list": request.query_params.get("list", "")[:64]},
        reason_text=functools.partial(reason_text, admin_translator(visitor.lang)),
    )


# --- unsubscribe --------------------------------------------------------------------------------


def _unsubscribe(context: WebContext, visitor: Visitor, subscriber_id: int, which: str) -> tuple[bool, str]:
    """Unsubscribe from the list with id ``which`` or from every list ("all"); (changed, list name)."""
    with context.write() as conn:
        list_id = _number(which)
        the_list = get_list_by_id(conn, list_id) if list_id is not None else None
        if the_list is None and which != "all":
            raise NotFound(f"list {which!r} does not exist")
        changed = unsubscribe(conn, subscriber_id, the_list.id if the_list else None, source=SOURCE)
        name = the_list.name if the_list else ""
        if changed:
            record(
                conn,
                visitor.actor(),
                "subscriber.unsubscribed",
                audit_subject(subscriber_id),
                {"list": name or "(every list)"},
            )
        return changed, name


@guarded("subscribers.manage")
async def unsubscribe_person(request: Request, visitor: Visitor, form: FormData) -> Response:
    person = await _found(request, history=False)
    if person is None:
        return _not_found(request, visitor)
    context = web(request)
    subscriber_id = person.subscriber.id
    try:
        changed, name = await context.in_writer(
            _unsubscribe, context, visitor, subscriber_id, field(form, "list", 20)
        )
    except NotFound:
        return _not_found(request, visitor)
    if not changed:
        return see_other(person_url(subscriber_id, notice="nothing"))
    if not name:
        return see_other(person_url(subscriber_id, notice="unsubscribed_all"))
    return see_other(person_url(subscriber_id, notice="unsubscribed", list=name))


# --- export their data (GDPR art. 15) -----------------------------------------------------------


def _export_data(context: WebContext, visitor: Visitor, subscriber: SubscriberRow) -> dict[str, Any]:
    with context.write() as conn:
        return export_data_recorded(conn, subscriber.email, visitor.actor())


@guarded("subscribers.manage")
async def export_person_data(request: Request, visitor: Visitor, form: FormData) -> Response:
    person = await _found(request, history=False)
    if person is None:
        return _not_found(request, visitor)
    context = web(request)
    data = await context.in_writer(_export_data, context, visitor, person.subscriber)
    # The file name holds the id, not the address: downloads folders get synced and shared.
    name = f"subscriber-{person.subscriber.id}-{utcnow():%Y-%m-%d}.json"
    return download(
        json.dumps(data, ensure_ascii=False, indent=2) + "\n", name, "application/json; charset=utf-8"
    )


# --- erase (GDPR art. 17) -----------------------------------------------------------------------


def _erase_page(
    request: Request, visitor: Visitor, person: Person, *, typed: str = "", error: str = ""
) -> Response:
    return render(
        request,
        "admin/subscriber_erase.html",
        visitor.lang,
        visitor=visitor,
        status_code=400 if error else 200,
        person=person,
        typed=typed,
        error=error,
    )


@guarded("subscribers.manage")
async def erase_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    person = await _found(request, history=False)
    if person is None:
        return _not_found(request, visitor)
    return _erase_page(request, visitor, person)


def _typed_matches(typed: str, subscriber: SubscriberRow) -> bool:
    """The typed address names this person: the same address up to case and surrounding spaces."""
    try:
        return email_hash(normalise(typed)) == subscriber.email_hash
    except InvalidAddress:
        return False


def _erase(context: WebContext, visitor: Visitor, subscriber: SubscriberRow) -> None:
    with context.write() as conn:
        erase_recorded(conn, subscriber.email, visitor.actor())


@guarded("subscribers.manage")
async def erase_person(request: Request, visitor: Visitor, form: FormData) -> Response:
    person = await _found(request, history=False)
    if person is None:
        return _not_found(request, visitor)
    typed = field(form, "confirm", 320)
    if not _typed_matches(typed, person.subscriber):
        return _erase_page(request, visitor, person, typed=typed, error="subs_erase_mismatch")
    context = web(request)
    await context.in_writer(_erase, context, visitor, person.subscriber)
    return see_other(SUBSCRIBERS + "?" + urlencode({"notice": "erased"}))


# --- add ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why the form was refused: a words key, the field it is about, and the key's values."""

    key: str
    field: str
    values: tuple[tuple[str, str], ...] = ()


def _typed(form: FormData) -> dict[str, str]:
    return {
        "email": field(form, "email", 400).strip(),
        "name": field(form, "name", 400).strip(),
        "language": field(form, "language", 5),
        "list": field(form, "list", 64),
        "note": field(form, "note", NOTE_LIMIT + 1).strip(),
        "resubscribe": "yes" if field(form, "resubscribe", 5) == "yes" else "",
    }


def _check(typed: dict[str, str]) -> Refusal | None:
    """The form's own mistakes, found before anything is written, with the field they are in."""
    try:
        normalise(typed["email"])
    except InvalidAddress:
        return Refusal("error_bad_email", "email")
    if len(typed["name"]) > NAME_LIMIT or header_text_problem(typed["name"]) is not None:
        return Refusal("error_bad_name", "name")
    if typed["language"] and typed["language"] not in LANGUAGES:
        return Refusal("error_bad_language", "language")
    if len(typed["note"]) > NOTE_LIMIT or stored_text_problem(typed["note"]) is not None:
        return Refusal("subs_error_note", "note")
    if typed["resubscribe"] and not typed["note"]:
        return Refusal("subs_error_note_needed", "note")
    return None


def _why_refused(context: WebContext, address: str, lang: str) -> str:
    """Why :func:`subscribe` refused ``address`` (the rule of its ``refusal_reason``), in the admin's words."""
    t = admin_translator(lang)
    hashed = email_hash(normalise(address))
    with context.read() as conn:
        blocked = suppression_reason(conn, hashed)
        current = get_subscriber_by_hash(conn, hashed)
    if blocked:
        return t("subs_why_blocked", reason=reason_text(t, blocked))
    if current is not None and current.status != "active":
        return t("subs_why_status", status=t("subs_status_" + current.status))
    return t("subs_why_unsubscribed")


def reason_text(t: Any, reason: str) -> str:
    """A suppression reason in the admin's words (an unknown one as it is stored)."""
    return t("subs_reason_" + reason) if reason in SUPPRESSION_REASONS else reason


def _everything(context: WebContext) -> list[ListRow]:
    with context.read() as conn:
        return all_lists(conn)


def _prefill(context: WebContext, subscriber_id: int | None) -> SubscriberRow | None:
    if subscriber_id is None:
        return None
    with context.read() as conn:
        return get_subscriber_by_id(conn, subscriber_id)


def _new_page(
    request: Request,
    visitor: Visitor,
    choices: list[ListRow],
    typed: dict[str, str],
    refusal: Refusal | None = None,
) -> Response:
    return render(
        request,
        "admin/subscriber_new.html",
        visitor.lang,
        visitor=visitor,
        status_code=400 if refusal else 200,
        choices=choices,
        languages=LANGUAGES,
        typed=typed,
        error=refusal.key if refusal else "",
        error_values=dict(refusal.values) if refusal else {},
        error_field=refusal.field if refusal else "",
    )


@guarded("subscribers.manage")
async def new_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    choices = await in_thread(_everything, context)
    known = await in_thread(_prefill, context, _number(request.query_params.get("subscriber")))
    typed = {
        "email": known.email if known else "",
        "name": (known.name or "") if known else "",
        "language": known.language if known else "",
        "list": request.query_params.get("list", "")[:64],
        "note": "",
        "resubscribe": "",
    }
    return _new_page(request, visitor, choices, typed)


def _add(
    context: WebContext, visitor: Visitor, typed: dict[str, str], the_list: ListRow
) -> tuple[SubscriberRow, str]:
    with context.write() as conn:
        subscriber, outcome = subscribe(
            conn,
            typed["email"],
            the_list,
            name=typed["name"] or None,
            language=typed["language"] or None,
            method="manual",
            source=SOURCE,
            consent_text=typed["note"],
            resubscribe=bool(typed["resubscribe"]),
        )
        if outcome != "unchanged":
            record(
                conn,
                visitor.actor(),
                "subscriber.added",
                audit_subject(subscriber.id),
                {"list": the_list.name, "outcome": outcome, "resubscribe": bool(typed["resubscribe"])},
            )
    return subscriber, outcome


@guarded("subscribers.manage")
async def add_person(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    typed = _typed(form)
    choices = await in_thread(_everything, context)
    the_list = next((each for each in choices if each.name == typed["list"]), None)
    refusal = _check(typed) or (Refusal("subs_error_list", "list") if the_list is None else None)
    if refusal is not None or the_list is None:
        return _new_page(request, visitor, choices, typed, refusal)
    try:
        subscriber, outcome = await context.in_writer(_add, context, visitor, typed, the_list)
    except SubscriptionRefused:
        why = await in_thread(_why_refused, context, typed["email"], visitor.lang)
        values = (("email", normalise(typed["email"])), ("why", why))
        refusal = Refusal("subs_error_refused", "email", values)
        return _new_page(request, visitor, choices, typed, refusal)
    except NotFound:  # the list was deleted a moment ago
        return _new_page(request, visitor, choices, typed, Refusal("subs_error_list", "list"))
    return see_other(person_url(subscriber.id, notice=outcome, list=the_list.name))


routes = [
    Route(SUBSCRIBERS, search_page, methods=["GET"]),
    Route(NEW, new_page, methods=["GET"]),
    Route(NEW, add_person, methods=["POST"]),
    Route(SUBSCRIBERS + "/{subscriber_id}", person_page, methods=["GET"]),
    Route(SUBSCRIBERS + "/{subscriber_id}/unsubscribe", unsubscribe_person, methods=["POST"]),
    Route(SUBSCRIBERS + "/{subscriber_id}/export-data", export_person_data, methods=["POST"]),
    Route(SUBSCRIBERS + "/{subscriber_id}/erase", erase_page, methods=["GET"]),
    Route(SUBSCRIBERS + "/{subscriber_id}/erase", erase_person, methods=["POST"]),
]
