"""Signing in: the client's rate limit, the account's lockout, the password, the code, a fresh session.

Two limits, both kept in the database so every ``serve`` instance shares them:

- **Per client**: at most :data:`CLIENT_ATTEMPTS` attempts (passwords and
  codes together) in :data:`CLIENT_WINDOW_SECONDS` from one client. The web
  layer passes its ``rate_limits`` counter as :attr:`Client.limiter`
  (``newsletter.web.security.RateLimiter("admin-login", CLIENT_ATTEMPTS,
  CLIENT_WINDOW_SECONDS)``) with ``client_key(ip)`` as :attr:`Client.limit_key`,
  which counts an IPv6 client as its whole /64. Over the limit, nothing else
  is looked at.
- **Per account**: :data:`LOCKOUT_AFTER` wrong passwords or codes in a row
  lock the account for :data:`FIRST_LOCKOUT`; every further failure after a
  lock ends doubles it, up to :data:`LONGEST_LOCKOUT`. A successful sign-in,
  a new password or ``newsletter users enable`` starts the count again.
  While locked, attempts are refused without looking at the password (so
  guessing meanwhile gains nothing) and the answer says until when — which
  tells whoever made ten wrong guesses that the address has an account; staff
  addresses are no secret, and the client limit bounds how many one client
  can probe.

An unknown address, a user without a password yet and a wrong password get
the same answer after the same argon2 work (:func:`passwords.verify_password`).

These functions take an :class:`~sqlalchemy.Engine`, not a connection: a
refused attempt must stay counted although the caller turns the refusal into
an error page, so each step commits its own transaction; and the argon2 check
(a few hundred milliseconds) runs outside any transaction, so SQLite's single
writer is not held meanwhile. Refusals are :class:`~newsletter.errors.LoginRefused`
with a ``reason`` the page translates: ``wrong``, ``locked`` (with ``until``),
``disabled``, ``too-many-attempts`` or ``expired`` (the code came too late).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Connection, Engine, delete, update

from newsletter.errors import LoginRefused
from newsletter.store.lists import utcnow
from newsletter.store.schema import sessions, users
from newsletter.workspace import passwords
from newsletter.workspace.audit import record
from newsletter.workspace.sessions import (
    NewSession,
    SessionPolicy,
    create_session,
    lookup_pending_login,
    session_hash,
)
from newsletter.workspace.users import (
    UserRow,
    accept_totp_code,
    credentials,
    get_user,
    get_user_by_id,
    rehash_password,
)

LOCKOUT_AFTER = 10
FIRST_LOCKOUT = timedelta(minutes=15)
LONGEST_LOCKOUT = timedelta(hours=24)
CLIENT_ATTEMPTS = 20
CLIENT_WINDOW_SECONDS = 15 * 60

WRONG = "the email address or password is wrong — try again, or ask an admin for a new set-password link"
WRONG_CODE = "the code is wrong or was used already — type the 6 digits the app shows now"
DISABLED = "this account is disabled — ask an admin to enable it"
TOO_MANY = f"too many sign-in attempts from this network — wait {CLIENT_WINDOW_SECONDS // 60} minutes, then try again"
EXPIRED = "the sign-in took too long — enter your email address and password again"


class HitCounter(Protocol):
    """Counts one attempt for ``key``; False when the key is over its limit (the web's RateLimiter)."""

    def hit(self, conn: Connection, key: str) -> bool: ...


@dataclass(frozen=True)
class Client:
    """Where an attempt comes from, and the counter that limits it (None: no client limit)."""

    ip: str | None = None
    user_agent: str | None = None
    limiter: HitCounter | None = None
    limit_key: str | None = None


def lockout_for(failures: int) -> timedelta | None:
    """How long ``failures`` failed attempts in a row lock an account (None: not locked)."""
    if failures < LOCKOUT_AFTER:
        return None
    doublings = min(failures - LOCKOUT_AFTER, 7)  # 15 min × 2^7 = 32 h: past the cap already
    return min(FIRST_LOCKOUT * 2**doublings, LONGEST_LOCKOUT)


def _locked(until: datetime) -> LoginRefused:
    return LoginRefused(
        f"too many failed sign-ins: this account is locked until {until:%Y-%m-%d %H:%M} UTC — "
        "wait until then, or ask an admin to unlock it ('newsletter users enable EMAIL')",
        reason="locked",
        until=until,
    )


def _client_allowed(conn: Connection, client: Client) -> bool:
    if client.limiter is None:
        return True
    return client.limiter.hit(conn, client.limit_key or client.ip or "unknown")


def _count_failure(
    conn: Connection, user: UserRow, client: Client, factor: str, now: datetime, wrong: str
) -> LoginRefused:
    failures = conn.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(failed_logins=users.c.failed_logins + 1)
        .returning(users.c.failed_logins)
    ).scalar_one()
    actor = user.actor(client.ip)
    record(conn, actor, "login.failed", user.email, {"factor": factor, "failures": failures}, now=now)
    lock = lockout_for(failures)
    if lock is None:
        return LoginRefused(wrong, reason="wrong")
    until = now + lock
    conn.execute(update(users).where(users.c.id == user.id).values(locked_until=until))
    record(
        conn, actor, "user.locked", user.email, {"until": until.isoformat(), "failures": failures}, now=now
    )
    return _locked(until)


def _signed_in(
    conn: Connection,
    user: UserRow,
    policy: SessionPolicy,
    client: Client,
    now: datetime,
    *,
    second_factor: bool,
) -> NewSession:
    conn.execute(
        update(users)
        .where(users.c.id == user.id)
        .values(failed_logins=0, locked_until=None, last_login_at=now)
    )
    record(
        conn, user.actor(client.ip), "login.succeeded", user.email, {"second_factor": second_factor}, now=now
    )
    return create_session(conn, user, policy, ip=client.ip, user_agent=client.user_agent, now=now)


def _end(conn: Connection, token: str | None) -> None:
    if token:
        conn.execute(delete(sessions).where(sessions.c.id_hash == session_hash(token)))


def log_in(
    engine: Engine,
    email: str,
    password: str,
    policy: SessionPolicy,
    *,
    client: Client | None = None,
    replaces: str | None = None,
    now: datetime | None = None,
) -> NewSession:
    """Check an address and password; a new session, or :class:`LoginRefused`.

    The session is *pending* (``session.second_factor_pending``) when the user
    has a second factor: the code page then calls :func:`complete_second_factor`
    with it. ``replaces``, the raw id of a session the browser already had, is
    ended, so every sign-in starts on a new id (no session fixation).
    """
    now = now or utcnow()
    client = client or Client()
    with engine.begin() as conn:
        allowed = _client_allowed(conn, client)
        user = get_user(conn, email) if allowed else None
        stored = credentials(conn, user.id).password_hash if user is not None else None
    if not allowed:
        raise LoginRefused(TOO_MANY, reason="too-many-attempts")
    if user is not None and user.locked_until is not None and user.locked_at(now):
        raise _locked(user.locked_until)
    matches = passwords.verify_password(stored, password)  # outside any transaction: it is slow
    with engine.begin() as conn:
        outcome = _after_password(conn, user, password, stored, matches, policy, client, replaces, now)
    if isinstance(outcome, LoginRefused):
        raise outcome
    return outcome


def _after_password(
    conn: Connection,
    user: UserRow | None,
    password: str,
    stored: str | None,
    matches: bool,
    policy: SessionPolicy,
    client: Client,
    replaces: str | None,
    now: datetime,
) -> NewSession | LoginRefused:
    current = get_user_by_id(conn, user.id) if user is not None else None
    if current is None:
        return LoginRefused(WRONG, reason="wrong")
    if not matches:
        return _count_failure(conn, current, client, "password", now, WRONG)
    if current.disabled:
        record(conn, current.actor(client.ip), "login.failed", current.email, {"reason": "disabled"}, now=now)
        return LoginRefused(DISABLED, reason="disabled")
    if stored is not None and passwords.needs_rehash(stored):
        rehash_password(conn, current, password)
    _end(conn, replaces)
    if current.totp_enabled:
        return create_session(
            conn,
            current,
            policy,
            ip=client.ip,
            user_agent=client.user_agent,
            second_factor_pending=True,
            now=now,
        )
    return _signed_in(conn, current, policy, client, now, second_factor=False)


def complete_second_factor(
    engine: Engine,
    pending_token: str | None,
    code: str,
    policy: SessionPolicy,
    *,
    client: Client | None = None,
    now: datetime | None = None,
) -> NewSession:
    """Check the code for a pending session; a full session on a new id, or :class:`LoginRefused`.

    A wrong code counts toward the lockout like a wrong password; a code
    accepted once (or an older one) is refused ever after.
    """
    now = now or utcnow()
    client = client or Client()
    with engine.begin() as conn:
        outcome = _after_code(conn, pending_token, code, policy, client, now)
    if isinstance(outcome, LoginRefused):
        raise outcome
    return outcome


def _after_code(
    conn: Connection,
    pending_token: str | None,
    code: str,
    policy: SessionPolicy,
    client: Client,
    now: datetime,
) -> NewSession | LoginRefused:
    if not _client_allowed(conn, client):
        return LoginRefused(TOO_MANY, reason="too-many-attempts")
    pending = lookup_pending_login(conn, pending_token, now=now)
    if pending is None:
        return LoginRefused(EXPIRED, reason="expired")
    user = pending.user
    if user.locked_until is not None and user.locked_at(now):
        _end(conn, pending_token)
        return _locked(user.locked_until)
    if accept_totp_code(conn, user, code, now=now):
        _end(conn, pending_token)
        return _signed_in(conn, user, policy, client, now, second_factor=True)
    refusal = _count_failure(conn, user, client, "totp", now, WRONG_CODE)
    if refusal.reason == "locked":
        _end(conn, pending_token)
    return refusal
