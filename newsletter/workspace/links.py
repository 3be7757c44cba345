"""One-time set-password links: how a new user, or one whose password was reset, chooses a password.

The link is ``{base_url}/admin/set-password/{token}`` (:data:`SET_PASSWORD_PATH`).
The token is 256 random bits; the database keeps only its SHA-256, so a copy
of the database cannot be used to set anyone's password. A link works once,
for :data:`LINK_LIFETIME` (72 hours), for an enabled user; making a new link
for a user voids the ones made before. Redeeming it does not sign the user
in: they sign in next with the new password (and their second factor, if
they kept it), so a link can never stand in for the second factor.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select, update

from newsletter.config import Settings
from newsletter.errors import LinkRefused
from newsletter.store.lists import aware, utcnow
from newsletter.store.schema import user_tokens
from newsletter.workspace import passwords
from newsletter.workspace.audit import Actor, record
from newsletter.workspace.users import (
    UserRow,
    create_user,
    get_user_by_id,
    reset_credentials,
    set_password,
)

LINK_LIFETIME = timedelta(hours=72)
SET_PASSWORD_PATH = "admin/set-password/{token}"
PURPOSE = "set-password"
_TOKEN_MAX = 128


@dataclass(frozen=True)
class PasswordLink:
    """A freshly made link: the raw token exists only here, never in the database."""

    user: UserRow
    token: str = field(repr=False)
    expires_at: datetime

    def url(self, settings: Settings) -> str:
        return settings.url(SET_PASSWORD_PATH.format(token=self.token))


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_password_link(
    conn: Connection, user: UserRow, *, actor: Actor, now: datetime | None = None
) -> PasswordLink:
    """A new one-time link for ``user``; links made for them before stop working."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    expires_at = now + LINK_LIFETIME
    conn.execute(delete(user_tokens).where(user_tokens.c.user_id == user.id))
    conn.execute(
        user_tokens.insert().values(
            user_id=user.id,
            token_hash=token_hash(token),
            purpose=PURPOSE,
            created_at=now,
            expires_at=expires_at,
        )
    )
    record(conn, actor, "user.password_link", user.email, {"expires_at": expires_at.isoformat()}, now=now)
    return PasswordLink(user, token, expires_at)


def invite_user(
    conn: Connection,
    email: str,
    role: str,
    *,
    actor: Actor,
    name: str = "",
    language: str = "da",
    now: datetime | None = None,
) -> PasswordLink:
    """Add a user and make the link they choose their password with."""
    now = now or utcnow()
    user = create_user(conn, email, role, actor=actor, name=name, language=language, now=now)
    return issue_password_link(conn, user, actor=actor, now=now)


def reset_password(
    conn: Connection,
    user: UserRow,
    *,
    actor: Actor,
    remove_totp: bool = False,
    now: datetime | None = None,
) -> PasswordLink:
    """Forget the user's password, sign them out everywhere, and make a new link."""
    now = now or utcnow()
    reset = reset_credentials(conn, user, actor=actor, remove_totp=remove_totp, now=now)
    return issue_password_link(conn, reset, actor=actor, now=now)


_REFUSALS = {
    "unknown": "this set-password link is not valid — copy the whole link, or ask an admin for a new one",
    "used": "this set-password link has been used already — sign in, or ask an admin for a new link",
    "expired": "this set-password link has expired — ask an admin for a new one",
    "disabled": "this account is disabled — ask an admin",
}


def _refuse(reason: str) -> LinkRefused:
    return LinkRefused(_REFUSALS[reason], reason=reason)


def check_password_link(conn: Connection, token: str, *, now: datetime | None = None) -> UserRow:
    """The user a link is for, while it is usable; :class:`LinkRefused` (``reason``) otherwise."""
    now = now or utcnow()
    if not token or len(token) > _TOKEN_MAX:
        raise _refuse("unknown")
    row = conn.execute(
        select(user_tokens).where(
            user_tokens.c.token_hash == token_hash(token), user_tokens.c.purpose == PURPOSE
        )
    ).first()
    if row is None:
        raise _refuse("unknown")
    if row.used_at is not None:
        raise _refuse("used")
    if aware(row.expires_at) <= now:
        raise _refuse("expired")
    user = get_user_by_id(conn, row.user_id)
    if user is None:
        raise _refuse("unknown")
    if user.disabled:
        raise _refuse("disabled")
    return user


def redeem_password_link(
    conn: Connection, token: str, password: str, *, ip: str | None = None, now: datetime | None = None
) -> UserRow:
    """Set the password through a link, which is then used up; the user is not signed in by it.

    A password the policy refuses (:class:`~newsletter.errors.PasswordRejected`)
    leaves the link usable, so the person can try another.
    """
    now = now or utcnow()
    user = check_password_link(conn, token, now=now)
    passwords.check_policy(password, user.email)
    # Claimed with one conditional UPDATE: of two requests racing with one link, one wins.
    claimed = conn.execute(
        update(user_tokens)
        .where(user_tokens.c.token_hash == token_hash(token), user_tokens.c.used_at.is_(None))
        .values(used_at=now)
    )
    if claimed.rowcount != 1:
        raise _refuse("used")
    return set_password(conn, user, password, actor=user.actor(ip), now=now)
