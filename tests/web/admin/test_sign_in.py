"""Signing in and out through the web: lockout, the client limit, rotation, the code step, set-password links."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pyotp
from sqlalchemy import Engine, select, update

from newsletter.store.lists import utcnow
from newsletter.store.schema import audit_log, sessions
from newsletter.workspace.links import invite_user
from newsletter.workspace.login import CLIENT_ATTEMPTS, LOCKOUT_AFTER
from newsletter.workspace.users import enable_totp
from tests.web.admin.conftest import CLI, PASSWORD, MakeUser, csrf_of, log_in, user_named
from tests.web.conftest import AppClient

SignIn = Callable[..., AppClient]
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def session_of(client: AppClient) -> str:
    token = client.cookies.get("nl_admin_session")
    assert token
    return token


def with_session(app: Any, token: str) -> AppClient:
    other = AppClient(app)
    other.cookies.set("nl_admin_session", token, domain="nyhedsbrev.example.org", path="/admin")
    return other


def test_sign_in_sets_a_strict_session_cookie(client: AppClient, make_user: MakeUser) -> None:
    make_user("jens@kommune.dk", "editor")
    answer = log_in(client, "Jens@Kommune.dk ")
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "nl_admin_session=" in cookie
    for flag in ("HttpOnly", "Path=/admin", "SameSite=lax", "Secure"):
        assert flag.lower() in cookie.lower()
    home = client.get("/admin/")
    assert home.status_code == 200 and "Logget ind som jens@kommune.dk" in home.text


def test_a_wrong_password_and_an_unknown_address_read_the_same(
    client: AppClient, make_user: MakeUser
) -> None:
    make_user("jens@kommune.dk", "editor")
    wrong = log_in(client, "jens@kommune.dk", "forkert kodeord igen")
    unknown = log_in(client, "ingen@kommune.dk", "forkert kodeord igen")
    assert wrong.status_code == unknown.status_code == 400
    message = "E-mailadressen eller adgangskoden er forkert"
    assert message in wrong.text and message in unknown.text
    assert 'aria-describedby="form-error"' in wrong.text and 'id="form-error"' in wrong.text
    assert 'value="ingen@kommune.dk"' in unknown.text  # what was typed stays in the form


def test_brute_force_locks_the_account_through_the_web(client: AppClient, make_user: MakeUser) -> None:
    make_user("jens@kommune.dk", "editor")
    for attempt in range(1, LOCKOUT_AFTER + 1):
        answer = log_in(client, "jens@kommune.dk", f"gæt nummer {attempt:02d} forkert")
        assert answer.status_code == 400
    assert "kontoen er låst til" in answer.text
    right = log_in(client, "jens@kommune.dk", PASSWORD)
    assert right.status_code == 400 and "kontoen er låst til" in right.text
    assert "nl_admin_session" not in client.cookies


def test_one_client_is_limited_across_addresses(app: Any, make_user: MakeUser) -> None:
    client = AppClient(app, client_address=("198.51.100.7", 4000))
    for number in range(CLIENT_ATTEMPTS):
        assert log_in(client, f"gæt{number}@kommune.dk", "noget forkert her").status_code == 400
    answer = log_in(client, "gæt@kommune.dk", "noget forkert her", lang="en")
    assert answer.status_code == 429
    assert "Too many attempts from this network. Wait 15 minutes" in answer.text
    elsewhere = AppClient(app, client_address=("203.0.113.9", 4000))
    make_user("jens@kommune.dk", "editor")
    assert log_in(elsewhere, "jens@kommune.dk").status_code == 303
    client.close()
    elsewhere.close()


def test_signing_in_again_ends_the_session_the_browser_came_with(
    app: Any, client: AppClient, make_user: MakeUser
) -> None:
    make_user("jens@kommune.dk", "editor")
    log_in(client, "jens@kommune.dk")
    before = session_of(client)
    log_in(client, "jens@kommune.dk")
    after = session_of(client)
    assert after != before
    old = with_session(app, before)
    assert old.get("/admin/").status_code == 303
    assert client.get("/admin/").status_code == 200
    old.close()


def test_log_out_ends_the_session(app: Any, signed_in: SignIn) -> None:
    client = signed_in("editor")
    token = session_of(client)
    answer = client.post("/admin/logout", data={"csrf_token": csrf_of(client.get("/admin/").text)})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")
    again = with_session(app, token)
    assert again.get("/admin/").status_code == 303
    again.close()


def test_log_out_everywhere_ends_the_other_sessions(app: Any, signed_in: SignIn, engine: Engine) -> None:
    laptop = signed_in("editor", "jens@kommune.dk")
    phone = AppClient(app)
    assert log_in(phone, "jens@kommune.dk").status_code == 303
    account = laptop.get("/admin/account")
    assert "Du er logget ind 2 steder" in account.text
    answer = laptop.post("/admin/logout-everywhere", data={"csrf_token": csrf_of(account.text)})
    assert answer.status_code == 303
    assert phone.get("/admin/").status_code == 303
    assert laptop.get("/admin/").status_code == 303
    with engine.connect() as conn:
        actions = list(conn.execute(select(audit_log.c.action, audit_log.c.ip)))
    assert ("logout.everywhere", "127.0.0.1") in actions
    phone.close()


def test_sign_in_with_a_second_factor(
    app: Any, client: AppClient, make_user: MakeUser, engine: Engine
) -> None:
    user = make_user("jens@kommune.dk", "editor")
    earlier = utcnow() - timedelta(seconds=90)  # enrolled a few steps ago: the code now is newer
    with engine.begin() as conn:
        enable_totp(conn, user, SECRET, pyotp.TOTP(SECRET).at(earlier), actor=CLI, now=earlier)
    answer = log_in(client, "jens@kommune.dk")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login/code")
    pending = session_of(client)
    halfway = client.get("/admin/users")  # a pending sign-in opens nothing: it goes on to the code
    assert halfway.status_code == 303 and halfway.headers["location"].startswith("/admin/login/code?next=")
    page = client.get(answer.headers["location"])
    assert page.status_code == 200 and "Den 6-cifrede kode" in page.text
    wrong = client.post("/admin/login/code", data={"csrf_token": csrf_of(page.text), "code": "000000"})
    assert wrong.status_code == 400 and "Koden er forkert" in wrong.text
    right = client.post(
        "/admin/login/code", data={"csrf_token": csrf_of(page.text), "code": pyotp.TOTP(SECRET).now()}
    )
    assert right.status_code == 303 and right.headers["location"] == "/admin/"
    assert session_of(client) != pending
    assert client.get("/admin/").status_code == 200


def test_a_set_password_link_works_once(client: AppClient, engine: Engine) -> None:
    with engine.begin() as conn:
        link = invite_user(conn, "ny@kommune.dk", "editor", actor=CLI)
    path = f"/admin/set-password/{link.token}"
    page = client.get(path)
    assert page.status_code == 200 and "ny@kommune.dk" in page.text and '<html lang="da">' in page.text
    token = csrf_of(page.text)

    short = client.post(path, data={"csrf_token": token, "password": "kort", "repeat": "kort"})
    assert short.status_code == 400 and "mindst 12 tegn" in short.text
    assert 'aria-describedby="password-help form-error"' in short.text
    differ = client.post(
        path, data={"csrf_token": token, "password": "en lang kode her", "repeat": "en anden lang kode"}
    )
    assert differ.status_code == 400 and "ikke ens" in differ.text
    mine = "syv grønne elefanter danser"
    done = client.post(path, data={"csrf_token": token, "password": mine, "repeat": mine})
    assert done.status_code == 303 and done.headers["location"].startswith("/admin/login?done=password")
    assert "Adgangskoden er gemt" in client.get(done.headers["location"]).text

    used = client.get(path)
    assert used.status_code == 410 and "allerede brugt" in used.text
    again = client.post(path, data={"csrf_token": token, "password": mine + "!", "repeat": mine + "!"})
    assert again.status_code == 410
    assert log_in(client, "ny@kommune.dk", mine).status_code == 303
    assert user_named(engine, "ny@kommune.dk").has_password


def test_an_unknown_set_password_link_says_so_in_english_when_asked(client: AppClient) -> None:
    answer = client.get("/admin/set-password/" + "x" * 43 + "?lang=en")
    assert answer.status_code == 404
    assert "This link does not work" in answer.text and '<html lang="en">' in answer.text


def test_a_session_idle_past_the_setting_is_refused(signed_in: SignIn, engine: Engine, settings: Any) -> None:
    client = signed_in("editor")
    assert client.get("/admin/").status_code == 200
    idle = timedelta(minutes=settings.admin.session_idle_minutes + 1)
    with engine.begin() as conn:
        conn.execute(update(sessions).values(last_seen_at=utcnow() - idle))
    assert client.get("/admin/").status_code == 303
