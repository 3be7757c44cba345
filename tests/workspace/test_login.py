"""Signing in: the same answer for unknown and wrong, lockout that grows, a client limit, TOTP once."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, update

from newsletter.errors import LoginRefused
from newsletter.store.schema import users
from newsletter.web.security import RateLimiter, client_key
from newsletter.workspace import passwords
from newsletter.workspace.audit import recent_entries
from newsletter.workspace.login import (
    CLIENT_ATTEMPTS,
    CLIENT_WINDOW_SECONDS,
    FIRST_LOCKOUT,
    LOCKOUT_AFTER,
    LONGEST_LOCKOUT,
    Client,
    complete_second_factor,
    lockout_for,
    log_in,
)
from newsletter.workspace.sessions import lookup_pending_login, lookup_session
from newsletter.workspace.users import UserRow, credentials, disable_user, enable_user, find_user
from tests.workspace.conftest import CLI, NOW, PASSWORD, POLICY, TOTP_SECRET, MakeUser, code_at

EMAIL = "jens@kommune.dk"


def refusal(
    engine: Engine, email: str, password: str, when: datetime, client: Client | None = None
) -> LoginRefused:
    with pytest.raises(LoginRefused) as refused:
        log_in(engine, email, password, POLICY, client=client, now=when)
    return refused.value


def user_now(engine: Engine, email: str = EMAIL) -> UserRow:
    with engine.connect() as conn:
        return find_user(conn, email)


def test_the_right_password_signs_in_on_a_new_session(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    client = Client(ip="10.0.0.7", user_agent="Firefox")
    new = log_in(engine, " JENS@kommune.dk ", PASSWORD, POLICY, client=client, now=NOW)
    assert not new.session.second_factor_pending
    with engine.begin() as conn:
        found = lookup_session(conn, new.token, POLICY, now=NOW)
        entry = recent_entries(conn)[0]
    assert found is not None and found.user.email == EMAIL and found.session.ip == "10.0.0.7"
    assert user_now(engine).last_login_at == NOW
    assert (entry.action, entry.ip, entry.detail) == ("login.succeeded", "10.0.0.7", {"second_factor": False})


def test_signing_in_ends_the_session_the_browser_had(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    first = log_in(engine, EMAIL, PASSWORD, POLICY, now=NOW)
    second = log_in(engine, EMAIL, PASSWORD, POLICY, replaces=first.token, now=NOW)
    with engine.begin() as conn:
        assert lookup_session(conn, first.token, POLICY, now=NOW) is None
        assert lookup_session(conn, second.token, POLICY, now=NOW) is not None


def test_unknown_address_and_wrong_password_get_the_same_answer(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    make_user("ny@kommune.dk", password=None)  # invited, no password chosen yet
    answers = {
        str(refusal(engine, address, guess, NOW))
        for address, guess in (
            ("nobody@kommune.dk", PASSWORD),
            ("not an address", PASSWORD),
            (EMAIL, "forkert kodeord her"),
            ("ny@kommune.dk", ""),
        )
    }
    assert answers == {
        "the email address or password is wrong — try again, or ask an admin for a new set-password link"
    }


def test_a_refused_attempt_stays_counted_and_audited(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    assert refusal(engine, EMAIL, "forkert kodeord her", NOW, Client(ip="10.9.9.9")).reason == "wrong"
    assert user_now(engine).failed_logins == 1
    with engine.connect() as conn:
        entry = recent_entries(conn)[0]
    assert (entry.action, entry.ip, entry.detail) == (
        "login.failed",
        "10.9.9.9",
        {"factor": "password", "failures": 1},
    )
    log_in(engine, EMAIL, PASSWORD, POLICY, now=NOW)
    assert user_now(engine).failed_logins == 0


def test_ten_failures_lock_the_account_for_fifteen_minutes_then_longer(
    engine: Engine, make_user: MakeUser
) -> None:
    make_user()
    for attempt in range(1, LOCKOUT_AFTER):
        assert refusal(engine, EMAIL, f"forkert kodeord {attempt}", NOW).reason == "wrong"
    locked = refusal(engine, EMAIL, "forkert kodeord 10", NOW)
    assert (locked.reason, locked.until) == ("locked", NOW + timedelta(minutes=15))
    assert "locked until 2021-01-04 09:15 UTC" in str(locked)
    # While locked even the right password is refused, and guesses are not even looked at.
    during = refusal(engine, EMAIL, PASSWORD, NOW + timedelta(minutes=14))
    assert (during.reason, during.until) == ("locked", NOW + timedelta(minutes=15))
    assert user_now(engine).failed_logins == LOCKOUT_AFTER
    # After the lock the next failure locks at once, for twice as long.
    after = NOW + timedelta(minutes=15)
    again = refusal(engine, EMAIL, "forkert kodeord 11", after)
    assert (again.reason, again.until) == ("locked", after + timedelta(minutes=30))
    # The right password after that lock signs in and starts the count again.
    log_in(engine, EMAIL, PASSWORD, POLICY, now=after + timedelta(minutes=30))
    assert (user_now(engine).failed_logins, user_now(engine).locked_until) == (0, None)
    with engine.connect() as conn:
        assert [entry.action for entry in recent_entries(conn, action="user.locked")] == ["user.locked"] * 2


def test_lockouts_grow_to_a_day_and_no_further() -> None:
    assert lockout_for(LOCKOUT_AFTER - 1) is None
    assert lockout_for(LOCKOUT_AFTER) == FIRST_LOCKOUT
    assert lockout_for(LOCKOUT_AFTER + 2) == timedelta(hours=1)
    assert lockout_for(LOCKOUT_AFTER + 7) == LONGEST_LOCKOUT == timedelta(hours=24)
    assert lockout_for(10_000) == LONGEST_LOCKOUT


def test_an_admin_lifts_a_lockout(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    with engine.begin() as conn:
        conn.execute(update(users).values(failed_logins=10, locked_until=NOW + timedelta(minutes=15)))
    assert refusal(engine, EMAIL, PASSWORD, NOW).reason == "locked"
    with engine.begin() as conn:
        from_cli = find_user(conn, EMAIL)
        assert from_cli.locked_at(NOW)
        enable_user(conn, from_cli, actor=CLI, now=NOW)
    assert log_in(engine, EMAIL, PASSWORD, POLICY, now=NOW)


def test_a_disabled_user_is_told_so_only_with_the_right_password(engine: Engine, make_user: MakeUser) -> None:
    make_user("chef@kommune.dk", "admin")
    user = make_user()
    with engine.begin() as conn:
        disable_user(conn, user, actor=CLI, now=NOW)
    assert refusal(engine, EMAIL, "forkert kodeord her", NOW).reason == "wrong"
    disabled = refusal(engine, EMAIL, PASSWORD, NOW)
    assert (disabled.reason, str(disabled)) == (
        "disabled",
        "this account is disabled — ask an admin to enable it",
    )


def test_one_client_is_limited_whatever_addresses_it_tries(engine: Engine, make_user: MakeUser) -> None:
    make_user()
    limiter = RateLimiter("admin-login", 3, CLIENT_WINDOW_SECONDS, clock=lambda: NOW.timestamp())
    # Two addresses of one IPv6 /64 are one client.
    clients = [
        Client(ip=ip, limiter=limiter, limit_key=client_key(ip)) for ip in ("2001:db8::1", "2001:db8::2")
    ]
    refusal(engine, "a@kommune.dk", "gæt nummer et", NOW, clients[0])
    refusal(engine, "b@kommune.dk", "gæt nummer to", NOW, clients[1])
    assert log_in(engine, EMAIL, PASSWORD, POLICY, client=clients[0], now=NOW)
    limited = refusal(engine, EMAIL, PASSWORD, NOW, clients[1])
    assert limited.reason == "too-many-attempts"
    assert user_now(engine).failed_logins == 0  # the limit stops before the password is looked at
    other = Client(ip="2001:db8:1::1", limiter=limiter, limit_key=client_key("2001:db8:1::1"))
    assert log_in(engine, EMAIL, PASSWORD, POLICY, client=other, now=NOW)
    assert CLIENT_ATTEMPTS == 20 and CLIENT_WINDOW_SECONDS == 900


def test_a_hash_with_old_parameters_is_upgraded_at_sign_in(
    engine: Engine, make_user: MakeUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user()
    user = user_now(engine)
    with engine.connect() as conn:
        old = credentials(conn, user.id).password_hash
    assert old is not None
    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1))
    log_in(engine, EMAIL, PASSWORD, POLICY, now=NOW)
    with engine.connect() as conn:
        new = credentials(conn, user.id).password_hash
    assert new != old and new is not None and "m=2048,t=2,p=1" in new
    assert passwords.verify_password(new, PASSWORD)


def test_a_second_factor_user_gets_a_pending_session_then_a_full_one(
    engine: Engine, make_user: MakeUser
) -> None:
    make_user(totp_secret=TOTP_SECRET)
    when = NOW + timedelta(minutes=1)
    pending = log_in(engine, EMAIL, PASSWORD, POLICY, now=when)
    assert pending.session.second_factor_pending
    with engine.begin() as conn:
        assert lookup_session(conn, pending.token, POLICY, now=when) is None
    full = complete_second_factor(engine, pending.token, code_at(TOTP_SECRET, when), POLICY, now=when)
    assert full.token != pending.token and not full.session.second_factor_pending
    with engine.begin() as conn:
        assert lookup_pending_login(conn, pending.token, now=when) is None
        assert lookup_session(conn, full.token, POLICY, now=when) is not None
        assert recent_entries(conn)[0].detail == {"second_factor": True}


def test_a_code_is_accepted_once_and_never_again(engine: Engine, make_user: MakeUser) -> None:
    make_user(totp_secret=TOTP_SECRET)
    when = NOW + timedelta(minutes=1)
    code = code_at(TOTP_SECRET, when)
    first = log_in(engine, EMAIL, PASSWORD, POLICY, now=when)
    complete_second_factor(engine, first.token, code, POLICY, now=when)
    second = log_in(engine, EMAIL, PASSWORD, POLICY, now=when + timedelta(seconds=10))
    with pytest.raises(LoginRefused) as replayed:
        complete_second_factor(engine, second.token, code, POLICY, now=when + timedelta(seconds=10))
    assert replayed.value.reason == "wrong"
    assert (
        str(replayed.value) == "the code is wrong or was used already — type the 6 digits the app shows now"
    )
    # The pending session survives a wrong code: the next code from the app works.
    later = when + timedelta(seconds=30)
    assert complete_second_factor(engine, second.token, code_at(TOTP_SECRET, later), POLICY, now=later)


def test_codes_from_one_step_either_side_work_and_older_ones_do_not(
    engine: Engine, make_user: MakeUser
) -> None:
    make_user(totp_secret=TOTP_SECRET)
    when = NOW + timedelta(hours=1)
    for offset, accepted in ((-60, False), (-30, True), (30, True), (90, False)):
        pending = log_in(engine, EMAIL, PASSWORD, POLICY, now=when)
        code = code_at(TOTP_SECRET, when + timedelta(seconds=offset))
        if accepted:
            assert complete_second_factor(engine, pending.token, code, POLICY, now=when)
        else:
            with pytest.raises(LoginRefused):
                complete_second_factor(engine, pending.token, code, POLICY, now=when)
        when += timedelta(minutes=2)  # a fresh step for the next try (no replay involved)


def test_wrong_codes_count_toward_the_lockout(engine: Engine, make_user: MakeUser) -> None:
    make_user(totp_secret=TOTP_SECRET)
    pending = log_in(engine, EMAIL, PASSWORD, POLICY, now=NOW)
    for _ in range(LOCKOUT_AFTER - 1):
        with pytest.raises(LoginRefused):
            complete_second_factor(engine, pending.token, "000000", POLICY, now=NOW)
    with pytest.raises(LoginRefused) as locked:
        complete_second_factor(engine, pending.token, "000000", POLICY, now=NOW)
    assert locked.value.reason == "locked"
    with pytest.raises(LoginRefused) as gone:  # the pending session ended with the lock
        complete_second_factor(engine, pending.token, code_at(TOTP_SECRET, NOW), POLICY, now=NOW)
    assert gone.value.reason == "expired"


def test_a_code_after_five_minutes_means_starting_again(engine: Engine, make_user: MakeUser) -> None:
    make_user(totp_secret=TOTP_SECRET)
    pending = log_in(engine, EMAIL, PASSWORD, POLICY, now=NOW)
    late = NOW + timedelta(minutes=5)
    with pytest.raises(LoginRefused) as refused:
        complete_second_factor(engine, pending.token, code_at(TOTP_SECRET, late), POLICY, now=late)
    assert (refused.value.reason, str(refused.value)) == (
        "expired",
        "the sign-in took too long — enter your email address and password again",
    )
