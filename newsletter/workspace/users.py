"""The workspace's users: who they are, their role, password and second factor.

Functions take a :class:`sqlalchemy.Connection`; the caller owns the
transaction. Every change records an audit entry (:mod:`.audit`) in that same
transaction, naming the :class:`~.audit.Actor` the caller passes.

- A user is found by the hash of their normalised address, like a subscriber:
  ``Jens@Kommune.dk`` and ``jens@kommune.dk`` are one user.
- Users are never deleted, only disabled: their id stays in the audit log.
- A :class:`UserRow` carries no secret (no password hash, no TOTP secret), so
  printing or logging one shows nothing that must stay hidden; the stored
  credentials are read through :func:`credentials`.
- Disabling a user, setting a password and resetting one sign the user out
  everywhere (:func:`log_out_everywhere`): their sessions are deleted and any
  session older than ``sessions_valid_after`` is refused.
- The last enabled admin cannot be disabled or lose the admin role, so the
  workspace always has someone who can manage its users.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, or_, select, update

from newsletter.dates import LANGUAGES
from newsletter.errors import AccountError, AlreadyExists, NotFound
from newsletter.safe_text import header_text_problem
from newsletter.store.addresses import InvalidAddress, email_hash, normalise
from newsletter.store.lists import aware, utcnow
from newsletter.store.schema import sessions, users
from newsletter.workspace import passwords, totp
from newsletter.workspace.audit import Actor, record
from newsletter.workspace.roles import parse_role

_NAME_MAX = 200


@dataclass(frozen=True)
class UserRow:
    id: int
    email: str
    name: str
    role: str
    language: str
    disabled: bool
    has_password: bool
    totp_enabled: bool
    failed_logins: int
    locked_until: datetime | None
    sessions_valid_after: datetime
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime

    def actor(self, ip: str | None = None) -> Actor:
        """This user as the one doing something, seen from ``ip``."""
        return Actor(self.id, self.email, ip)

    def locked_at(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until


@dataclass(frozen=True)
class Credentials:
    """What a user signs in with, as stored (hash, encrypted TOTP secret); never shown in a repr."""

    password_hash: str | None = field(repr=False)
    totp_secret: str | None = field(repr=False)
    totp_last_step: int | None = None


def _user(row: Row) -> UserRow:
    return UserRow(
        id=row.id,
        email=row.email,
        name=row.name,
        role=row.role,
        language=row.language,
        disabled=bool(row.disabled),
        has_password=row.password_hash is not None,
        totp_enabled=row.totp_secret is not None,
        failed_logins=row.failed_logins,
        locked_until=aware(row.locked_until) if row.locked_until else None,
        sessions_valid_after=aware(row.sessions_valid_after),
        last_login_at=aware(row.last_login_at) if row.last_login_at else None,
        created_at=aware(row.created_at),
        updated_at=aware(row.updated_at),
    )


def valid_email(email: str) -> str:
    """``email`` normalised; :class:`AccountError` naming the field and the fix otherwise."""
    try:
        return normalise(email)
    except InvalidAddress as exc:
        raise AccountError(
            f"email: {exc} — type the whole address, e.g. jens@kommune.dk", reason="bad-email"
        ) from None


def _valid_name(name: str) -> str:
    cleaned = (name or "").strip()
    problem = header_text_problem(cleaned)
    if problem is not None:
        raise AccountError(f"name {problem} — type it on one line as plain text", reason="bad-name")
    if len(cleaned) > _NAME_MAX:
        raise AccountError(f"name is {len(cleaned)} characters — use at most {_NAME_MAX}", reason="bad-name")
    return cleaned


def _valid_language(language: str) -> str:
    if language not in LANGUAGES:
        raise AccountError(
            f"language {language!r} is not offered — use {' or '.join(LANGUAGES)}", reason="bad-language"
        )
    return language


def get_user(conn: Connection, email: str) -> UserRow | None:
    """The user with this address (any case, any surrounding space), or None."""
    try:
        key = email_hash(normalise(email))
    except InvalidAddress:
        return None
    row = conn.execute(select(users).where(users.c.email_hash == key)).first()
    return _user(row) if row else None


def get_user_by_id(conn: Connection, user_id: int) -> UserRow | None:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    return _user(row) if row else None


def find_user(conn: Connection, email: str) -> UserRow:
    """The user with this address; :class:`NotFound` saying how to see who exists."""
    found = get_user(conn, email)
    if found is None:
        raise NotFound(f"no workspace user has the email {email.strip()!r} — see 'newsletter users list'")
    return found


def all_users(conn: Connection) -> list[UserRow]:
    return [_user(row) for row in conn.execute(select(users).order_by(users.c.email))]


def credentials(conn: Connection, user_id: int) -> Credentials:
    row = conn.execute(
        select(users.c.password_hash, users.c.totp_secret, users.c.totp_last_step).where(
            users.c.id == user_id
        )
    ).one()
    return Credentials(row.password_hash, row.totp_secret, row.totp_last_step)


def _reload(conn: Connection, user_id: int) -> UserRow:
    found = get_user_by_id(conn, user_id)
    if found is None:
        raise NotFound(f"workspace user {user_id} does not exist")
    return found


def _change(conn: Connection, user: UserRow, now: datetime, **values: Any) -> UserRow:
    conn.execute(update(users).where(users.c.id == user.id).values(updated_at=now, **values))
    return _reload(conn, user.id)


def create_user(
    conn: Connection,
    email: str,
    role: str,
    *,
    actor: Actor,
    name: str = "",
    language: str = "da",
    now: datetime | None = None,
) -> UserRow:
    """Add a user without a password (they choose one through a link: :mod:`.links`)."""
    now = now or utcnow()
    address = valid_email(email)
    values: dict[str, Any] = {
        "email": address,
        "email_hash": email_hash(address),
        "name": _valid_name(name),
        "role": parse_role(role),
        "language": _valid_language(language),
        "disabled": False,
        "failed_logins": 0,
        "sessions_valid_after": now,
        "created_at": now,
        "updated_at": now,
    }
    existing = get_user(conn, address)
    if existing is not None:
        raise AlreadyExists(
            f"{existing.email} is already a workspace user ({existing.role}) — see 'newsletter users list'; "
            f"a new set-password link: 'newsletter users reset {existing.email}'"
        )
    new_id = conn.execute(users.insert().values(**values).returning(users.c.id)).scalar_one()
    record(conn, actor, "user.created", address, {"role": values["role"], "name": values["name"]}, now=now)
    return _reload(conn, new_id)


def _refuse_leaving_no_admin(conn: Connection, user: UserRow, doing: str) -> None:
    if user.role != "admin" or user.disabled:
        return
    others = conn.execute(
        select(func.count())
        .select_from(users)
        .where(users.c.role == "admin", users.c.disabled.is_(False), users.c.id != user.id)
    ).scalar_one()
    if others == 0:
        raise AccountError(
            f"{user.email} is the only enabled admin; {doing} would leave nobody to manage users — "
            "add another admin first: newsletter users add EMAIL --role admin",
            reason="last-admin",
        )


def change_role(
    conn: Connection, user: UserRow, role: str, *, actor: Actor, now: datetime | None = None
) -> UserRow:
    now = now or utcnow()
    new_role = parse_role(role)
    if new_role == user.role:
        return user
    if new_role != "admin":
        _refuse_leaving_no_admin(conn, user, f"making them {new_role}")
    changed = _change(conn, user, now, role=new_role)
    record(conn, actor, "user.role_changed", user.email, {"from": user.role, "to": new_role}, now=now)
    return changed


def _end_sessions(conn: Connection, user_id: int, now: datetime) -> None:
    conn.execute(update(users).where(users.c.id == user_id).values(sessions_valid_after=now))
    conn.execute(delete(sessions).where(sessions.c.user_id == user_id))


def log_out_everywhere(
    conn: Connection, user: UserRow, *, actor: Actor, now: datetime | None = None
) -> UserRow:
    """End every session of ``user``: deleted now, and any older one refused should it turn up."""
    now = now or utcnow()
    _end_sessions(conn, user.id, now)
    record(conn, actor, "logout.everywhere", user.email, now=now)
    return _reload(conn, user.id)


def disable_user(conn: Connection, user: UserRow, *, actor: Actor, now: datetime | None = None) -> UserRow:
    """The user can no longer sign in, and every session of theirs ends now."""
    now = now or utcnow()
    if user.disabled:
        return user
    _refuse_leaving_no_admin(conn, user, "disabling them")
    _end_sessions(conn, user.id, now)
    changed = _change(conn, user, now, disabled=True)
    record(conn, actor, "user.disabled", user.email, now=now)
    return changed


def enable_user(conn: Connection, user: UserRow, *, actor: Actor, now: datetime | None = None) -> UserRow:
    """The user may sign in again; a lockout from failed sign-ins is lifted too."""
    now = now or utcnow()
    if not user.disabled and user.failed_logins == 0 and user.locked_until is None:
        return user
    changed = _change(conn, user, now, disabled=False, failed_logins=0, locked_until=None)
    record(
        conn,
        actor,
        "user.enabled",
        user.email,
        {"was_disabled": user.disabled, "was_locked": user.locked_at(now)},
        now=now,
    )
    return changed


def update_profile(
    conn: Connection,
    user: UserRow,
    *,
    actor: Actor,
    name: str | None = None,
    language: str | None = None,
    now: datetime | None = None,
) -> UserRow:
    """Change the user's name and/or workspace language (``da`` or ``en``)."""
    now = now or utcnow()
    values: dict[str, Any] = {}
    if name is not None and _valid_name(name) != user.name:
        values["name"] = _valid_name(name)
    if language is not None and _valid_language(language) != user.language:
        values["language"] = language
    if not values:
        return user
    changed = _change(conn, user, now, **values)
    record(conn, actor, "user.profile_changed", user.email, values, now=now)
    return changed


def set_password(
    conn: Connection, user: UserRow, password: str, *, actor: Actor, now: datetime | None = None
) -> UserRow:
    """Check ``password`` against the policy (:class:`~newsletter.errors.PasswordRejected`), store its hash.

    Every session of the user ends (someone who knew the old password is out),
    and a lockout from failed sign-ins is lifted.
    """
    now = now or utcnow()
    accepted = passwords.check_policy(password, user.email)
    _end_sessions(conn, user.id, now)
    changed = _change(
        conn, user, now, password_hash=passwords.hash_password(accepted), failed_logins=0, locked_until=None
    )
    record(conn, actor, "user.password_set", user.email, now=now)
    return changed


def rehash_password(conn: Connection, user: UserRow, password: str) -> None:
    """Store a fresh hash of the (just verified) password with today's parameters; not a change."""
    conn.execute(
        update(users).where(users.c.id == user.id).values(password_hash=passwords.hash_password(password))
    )


def reset_credentials(
    conn: Connection,
    user: UserRow,
    *,
    actor: Actor,
    remove_totp: bool = False,
    now: datetime | None = None,
) -> UserRow:
    """Forget the password (and with ``remove_totp`` the second factor) and end every session.

    Whoever knew the old password can no longer sign in; the user chooses a
    new one through a link (:func:`newsletter.workspace.links.reset_password`).
    """
    now = now or utcnow()
    _end_sessions(conn, user.id, now)
    values: dict[str, Any] = {"password_hash": None, "failed_logins": 0, "locked_until": None}
    if remove_totp:
        values.update(totp_secret=None, totp_last_step=None)
    changed = _change(conn, user, now, **values)
    record(
        conn,
        actor,
        "user.password_reset",
        user.email,
        {"second_factor_removed": remove_totp and user.totp_enabled},
        now=now,
    )
    return changed


def enable_totp(
    conn: Connection, user: UserRow, secret: str, code: str, *, actor: Actor, now: datetime | None = None
) -> UserRow:
    """Turn on the second factor with ``secret`` once ``code`` proves the user's app has it."""
    now = now or utcnow()
    step = totp.matching_step(secret, code, now)
    if step is None:
        raise AccountError(
            "the code does not match — type the 6 digits the app shows now, and check that the "
            "phone's clock is set automatically",
            reason="wrong-code",
        )
    changed = _change(conn, user, now, totp_secret=totp.encrypt_secret(secret, user.id), totp_last_step=step)
    record(conn, actor, "user.totp_enabled", user.email, now=now)
    return changed


def remove_totp(conn: Connection, user: UserRow, *, actor: Actor, now: datetime | None = None) -> UserRow:
    now = now or utcnow()
    if not user.totp_enabled:
        return user
    changed = _change(conn, user, now, totp_secret=None, totp_last_step=None)
    record(conn, actor, "user.totp_removed", user.email, now=now)
    return changed


def accept_totp_code(conn: Connection, user: UserRow, code: str, *, now: datetime | None = None) -> bool:
    """Whether ``code`` is the user's current code and newer than any accepted before; remembers it.

    The step is claimed with one conditional UPDATE, so two requests racing
    with the same code cannot both succeed.
    """
    now = now or utcnow()
    stored = credentials(conn, user.id).totp_secret
    if stored is None:
        return False
    step = totp.matching_step(totp.decrypt_secret(stored, user.id, user.email), code, now)
    if step is None:
        return False
    claimed = conn.execute(
        update(users)
        .where(
            users.c.id == user.id,
            or_(users.c.totp_last_step.is_(None), users.c.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return claimed.rowcount == 1
