"""The guard in front of /admin: every route found in the app's own table, refused without a session.

A route is either made by ``guarded`` (a session and, for most, a role) or
by ``public`` (the sign-in, code and set-password pages and the static
files); the public ones are named here one by one, so a new page that
forgets the guard fails this file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Engine
from starlette.routing import Route

from newsletter.web.security import ADMIN_CSP
from newsletter.workspace.users import disable_user
from tests.web.admin.conftest import CLI, MakeUser, csrf_of, log_in, user_named
from tests.web.conftest import AppClient

PUBLIC_ROUTES = {
    ("/admin/login", "GET"),
    ("/admin/login", "POST"),
    ("/admin/login/code", "GET"),
    ("/admin/login/code", "POST"),
    ("/admin/set-password/{token}", "GET"),
    ("/admin/set-password/{token}", "POST"),
    ("/admin/static/{name}", "GET"),
}
SignIn = Callable[..., AppClient]
# Routes answering with an issue's email (under a CSP of its own) or its images: test_editor.py checks them.
EMAIL_ROUTES = {"/admin/issues/{slug}/preview/{name}", "/admin/issues/{slug}/images/{name}"}
SAMPLE = "2019-12-20-tak-for-et-godt-2019"


def admin_routes(app: Any) -> list[tuple[str, str, Any]]:
    """(path, method, endpoint) of every route under /admin in the app's route table."""
    found = []
    for route in app.routes:
        assert isinstance(route, Route), f"unexpected route type {route!r}: enumerate it here"
        if route.path == "/admin" or route.path.startswith("/admin/"):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((route.path, method, route.endpoint))
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def test_every_admin_route_is_guarded_or_named_public(app: Any) -> None:
    routes = admin_routes(app)
    assert len(routes) >= 20, "the workspace's routes are not in the app"
    public = {(path, method) for path, method, endpoint in routes if endpoint.admin_access == "public"}
    assert public == PUBLIC_ROUTES
    for path, method, endpoint in routes:
        assert getattr(endpoint, "admin_access", None) in ("guarded", "public"), (
            f"{method} {path} is unguarded"
        )


def test_every_guarded_route_refuses_a_visitor_without_session(app: Any, client: AppClient) -> None:
    guarded = [(p, m) for p, m, endpoint in admin_routes(app) if endpoint.admin_access == "guarded"]
    for path, method in guarded:
        answer = client.request(
            method, concrete(path), data={"csrf_token": "x"} if method == "POST" else None
        )
        if method == "GET":
            assert answer.status_code == 303, f"GET {path}"
            target = urlsplit(answer.headers["location"])
            assert target.path == "/admin/login"
            assert parse_qs(target.query)["next"] == [concrete(path)]
        else:
            assert answer.status_code == 403, f"{method} {path}"
            assert "Du er logget ud" in answer.text


def test_a_made_up_session_cookie_is_refused(app: Any) -> None:
    client = AppClient(app)
    client.cookies.set("nl_admin_session", "made-up", domain="nyhedsbrev.example.org", path="/admin")
    answer = client.get("/admin/users?x=1")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/login?next=%2Fadmin%2Fusers%3Fx%3D1"
    assert "nl_admin_session=" in answer.headers["set-cookie"]  # the dead cookie is cleared
    client.close()


@pytest.mark.parametrize(
    "next_path",
    ["https://evil.example/admin/", "//evil.example/admin/", "/\\evil.example", "/issues/x", "/admin/login"],
)
def test_sign_in_goes_only_to_local_workspace_pages(
    app: Any, client: AppClient, make_user: MakeUser, next_path: str
) -> None:
    make_user("jens@kommune.dk", "editor")
    answer = log_in(client, "jens@kommune.dk", next=next_path)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/"


def test_sign_in_returns_to_the_page_asked_for(app: Any, client: AppClient, make_user: MakeUser) -> None:
    make_user("chef@kommune.dk", "admin")
    first = client.get("/admin/audit?action=logout")
    assert first.status_code == 303
    login_page = client.get(first.headers["location"])
    assert 'name="next" value="/admin/audit?action=logout"' in login_page.text
    answer = log_in(client, "chef@kommune.dk", next="/admin/audit?action=logout")
    assert answer.headers["location"] == "/admin/audit?action=logout"


def test_a_post_without_the_sessions_csrf_token_is_refused(signed_in: SignIn, engine: Engine) -> None:
    client = signed_in("admin")
    before = client.get("/admin/users")
    for token in (None, "wrong", csrf_of(before.text)[:-1]):
        data = {"email": "ny@kommune.dk", "role": "editor", "language": "da"}
        if token is not None:
            data["csrf_token"] = token
        answer = client.post("/admin/users", data=data)
        assert answer.status_code == 403
        assert "Formularen er udløbet" in answer.text
    with engine.connect():
        assert "ny@kommune.dk" not in client.get("/admin/users").text
    ok = client.post(
        "/admin/users",
        data={
            "csrf_token": csrf_of(before.text),
            "email": "ny@kommune.dk",
            "role": "editor",
            "language": "da",
        },
    )
    assert ok.status_code == 200 and "ny@kommune.dk" in ok.text


def test_the_sign_in_form_needs_its_csrf_cookie(app: Any, make_user: MakeUser) -> None:
    make_user("jens@kommune.dk", "editor")
    client = AppClient(app)
    page = client.get("/admin/login")
    token = csrf_of(page.text)
    client.cookies.clear()
    answer = client.post(
        "/admin/login", data={"csrf_token": token, "email": "jens@kommune.dk", "password": "x"}
    )
    assert answer.status_code == 403
    assert "nl_admin_session" not in client.cookies
    client.close()


@pytest.mark.parametrize("path", ["/admin/users", "/admin/audit", "/admin/lists"])
def test_an_editor_cannot_reach_admin_pages(signed_in: SignIn, path: str) -> None:
    client = signed_in("editor")
    answer = client.get(path)
    assert answer.status_code == 403
    assert "Ingen adgang" in answer.text and "redaktør" in answer.text
    assert f'href="{path}"' not in answer.text  # not offered in the navigation either


def test_an_editor_cannot_post_to_admin_actions(signed_in: SignIn, engine: Engine) -> None:
    client = signed_in("editor")
    token = csrf_of(client.get("/admin/").text)
    boss = user_named(engine, "editor@kommune.dk")
    for path in ("/admin/users", "/admin/users/role", "/admin/users/disable", "/admin/audit/export"):
        answer = client.post(path, data={"csrf_token": token, "user": str(boss.id), "role": "admin"})
        assert answer.status_code == 403, path
    assert user_named(engine, "editor@kommune.dk").role == "editor"


def test_the_forbidden_page_speaks_the_users_language(signed_in: SignIn) -> None:
    client = signed_in("sender", language="en")
    answer = client.get("/admin/users")
    assert answer.status_code == 403
    assert '<html lang="en">' in answer.text and "Not allowed" in answer.text and "sender" in answer.text


def test_a_disabled_users_open_session_is_refused_at_once(signed_in: SignIn, engine: Engine) -> None:
    client = signed_in("editor", "jens@kommune.dk")
    assert client.get("/admin/").status_code == 200
    with engine.begin() as conn:
        disable_user(conn, user_named(engine, "jens@kommune.dk"), actor=CLI)
    answer = client.get("/admin/")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    assert client.post("/admin/logout", data={"csrf_token": "x"}).status_code == 403


class _InlineFinder(HTMLParser):
    """Collects what a strict CSP would block: inline scripts, style elements and attributes, handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []
        self.scripts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script":
            source = dict(attrs).get("src")
            if not source:
                self.problems.append("inline <script>")
            else:
                self.scripts.append(source)
        if tag == "style":
            self.problems.append("<style> element")
        if "style" in names:
            self.problems.append(f"style= on <{tag}>")
        self.problems += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]
        if tag == "a" and (dict(attrs).get("href") or "").startswith("javascript:"):
            self.problems.append("javascript: link")


def assert_strict(answer: Any) -> None:
    assert answer.headers["content-security-policy"] == ADMIN_CSP, answer.request.url
    if answer.headers.get("content-type", "").startswith("text/html"):
        finder = _InlineFinder()
        finder.feed(answer.text)
        assert finder.problems == [], f"{answer.request.url}: {finder.problems}"
        assert all(src.startswith("/admin/static/") for src in finder.scripts)


def test_csp_on_every_admin_answer_and_nothing_inline(
    app: Any, client: AppClient, signed_in: SignIn, make_user: MakeUser
) -> None:
    anonymous = [
        client.get("/admin/"),
        client.get("/admin/login"),
        client.get("/admin/login?lang=en"),
        client.get("/admin/login/code"),
        client.get("/admin/set-password/unknown-token"),
        client.post("/admin/users", data={}),
        client.get("/admin/no-such-page"),
        client.get("/admin/static/nothing.js"),
    ]
    admin = signed_in("admin")
    # The sample issue stands in for {slug}; any other parameter ("x") names nothing: a 404 page.
    guarded_paths = [
        path.replace("{slug}", SAMPLE)
        for path, method, endpoint in admin_routes(app)
        if method == "GET" and endpoint.admin_access == "guarded" and path not in EMAIL_ROUTES
    ]
    pages = [admin.get(concrete(path)) for path in guarded_paths]
    expected = [404 if "{" in path else 200 for path in guarded_paths]
    assert [page.status_code for page in pages] == expected, [p.request.url for p in pages]
    editor = signed_in("editor")
    others = [editor.get("/admin/users"), admin.get("/admin/no-such-page")]
    statics = [admin.get(src) for src in re.findall(r'(?:src|href)="(/admin/static/[^"]+)"', pages[0].text)]
    assert len(statics) == 2 and all(s.status_code == 200 for s in statics)
    assert all("immutable" in s.headers["cache-control"] for s in statics)
    for answer in [*anonymous, *pages, *others, *statics]:
        assert_strict(answer)
