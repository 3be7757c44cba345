"""Users (admins): add with a role (the one-time link is shown once), disable, enable, reset, change role.

Every change is the library's (:mod:`newsletter.workspace.users`,
:mod:`~newsletter.workspace.links`), audited with the signed-in admin as the
actor and the client's IP address. A refusal (a bad address, the last
admin) is shown above the form by its reason, in the admin's language.

After a change the page redirects to itself with a notice (so a reload does
not post again) — except after adding or resetting, where the page shows the
new link once and is not kept by the browser (``no-store``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import Connection
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.dates import LANGUAGES
from newsletter.errors import AccountError, AlreadyExists, NotFound
from newsletter.store.lists import utcnow
from newsletter.web.admin.guard import Visitor, field, guarded, render, see_other
from newsletter.web.admin.words import admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import PasswordLink, invite_user, reset_password
from newsletter.workspace.roles import ROLES
from newsletter.workspace.users import (
    UserRow,
    all_users,
    change_role,
    disable_user,
    enable_user,
    get_user_by_id,
)

USERS = "/admin/users"
_ERRORS = {
    "bad-email": "error_bad_email",
    "bad-name": "error_bad_name",
    "bad-role": "error_bad_role",
    "bad-language": "error_bad_language",
    "last-admin": "error_last_admin",
}
NOTICES = ("added", "disabled", "enabled", "reset", "role")


def _everyone(context: WebContext) -> list[UserRow]:
    with context.read() as conn:
        return all_users(conn)


def _page(
    request: Request,
    visitor: Visitor,
    people: list[UserRow],
    *,
    status_code: int = 200,
    error: str = "",
    error_values: dict[str, Any] | None = None,
    link: PasswordLink | None = None,
    notice: str = "",
    notice_values: dict[str, Any] | None = None,
    typed: dict[str, str] | None = None,
) -> Response:
    return render(
        request,
        "admin/users.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        people=people,
        roles=ROLES,
        languages=LANGUAGES,
        error=error,
        error_values=error_values or {},
        link=link,
        link_url=link.url(web(request).settings) if link is not None else "",
        notice=notice,
        notice_values=notice_values or {},
        typed=typed or {"email": "", "name": "", "role": "editor", "language": "da"},
        now=utcnow(),
    )


@guarded("users.manage")
async def users_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    people = await in_thread(_everyone, context)
    notice, values = "", {}
    wanted = request.query_params.get("notice", "")
    who = next((p for p in people if str(p.id) == request.query_params.get("user")), None)
    if wanted in NOTICES and who is not None:
        role_name = admin_translator(visitor.lang)("role_" + who.role)
        notice, values = "notice_" + wanted, {"email": who.email, "role": role_name}
    return _page(request, visitor, people, notice=notice, notice_values=values)


def _refused(
    request: Request, visitor: Visitor, people: list[UserRow], exc: Exception, email: str, **kw: Any
) -> Response:
    if isinstance(exc, AlreadyExists):
        key = "error_exists"
    elif isinstance(exc, NotFound):
        key = "error_no_user"
    else:
        key = _ERRORS.get(getattr(exc, "reason", ""), "error_bad_email")
    return _page(request, visitor, people, status_code=400, error=key, error_values={"email": email}, **kw)


def _invite(context: WebContext, typed: dict[str, str], actor: Actor) -> PasswordLink:
    with context.write() as conn:
        return invite_user(
            conn, typed["email"], typed["role"], actor=actor, name=typed["name"], language=typed["language"]
        )


@guarded("users.manage")
async def add_user(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    typed = {
        "email": field(form, "email", 320).strip(),
        "name": field(form, "name", 400),
        "role": field(form, "role", 20),
        "language": field(form, "language", 5),
    }
    try:
        link = await context.in_writer(_invite, context, typed, visitor.actor())
    except (AccountError, AlreadyExists) as exc:
        people = await in_thread(_everyone, context)
        return _refused(request, visitor, people, exc, typed["email"], typed=typed)
    people = await in_thread(_everyone, context)
    return _page(
        request, visitor, people, link=link, notice="notice_added", notice_values={"email": link.user.email}
    )


Change = Callable[[Connection, UserRow, Actor, FormData], Any]


def _apply(context: WebContext, user_id: int, change: Change, actor: Actor, form: FormData) -> Any:
    with context.write() as conn:
        user = get_user_by_id(conn, user_id)
        if user is None:
            raise NotFound(f"workspace user {user_id} does not exist")
        return change(conn, user, actor, form)


def _user_id(form: FormData) -> int:
    text = field(form, "user", 20)
    return int(text) if text.isdigit() else 0


def _action(change: Change, notice: str) -> Callable[[Request, Visitor, FormData], Any]:
    async def handler(request: Request, visitor: Visitor, form: FormData) -> Response:
        context = web(request)
        user_id = _user_id(form)
        try:
            outcome = await context.in_writer(_apply, context, user_id, change, visitor.actor(), form)
        except (AccountError, NotFound) as exc:
            people = await in_thread(_everyone, context)
            who = next((p.email for p in people if p.id == user_id), "")
            return _refused(request, visitor, people, exc, who)
        if isinstance(outcome, PasswordLink):
            people = await in_thread(_everyone, context)
            return _page(
                request,
                visitor,
                people,
                link=outcome,
                notice="notice_reset",
                notice_values={"email": outcome.user.email},
            )
        return see_other(USERS + "?" + urlencode({"notice": notice, "user": user_id}))

    handler.__name__ = handler.__qualname__ = change.__name__.lstrip("_") + "_user"
    return handler


def _disable(conn: Connection, user: UserRow, actor: Actor, form: FormData) -> UserRow:
    return disable_user(conn, user, actor=actor)


def _enable(conn: Connection, user: UserRow, actor: Actor, form: FormData) -> UserRow:
    return enable_user(conn, user, actor=actor)


def _reset(conn: Connection, user: UserRow, actor: Actor, form: FormData) -> PasswordLink:
    return reset_password(conn, user, actor=actor, remove_totp=field(form, "remove_2fa") == "yes")


def _role(conn: Connection, user: UserRow, actor: Actor, form: FormData) -> UserRow:
    return change_role(conn, user, field(form, "role", 20), actor=actor)


disable = guarded("users.manage")(_action(_disable, "disabled"))
enable = guarded("users.manage")(_action(_enable, "enabled"))
reset = guarded("users.manage")(_action(_reset, "reset"))
role = guarded("users.manage")(_action(_role, "role"))

routes = [
    Route(USERS, users_page, methods=["GET"]),
    Route(USERS, add_user, methods=["POST"]),
    Route(USERS + "/disable", disable, methods=["POST"]),
    Route(USERS + "/enable", enable, methods=["POST"]),
    Route(USERS + "/reset", reset, methods=["POST"]),
    Route(USERS + "/role", role, methods=["POST"]),
]
