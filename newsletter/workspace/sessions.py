"""Server-side sessions: the cookie carries a random id, the database its SHA-256 and everything else.

- :func:`create_session` returns the raw id once (:class:`NewSession`); it is
  never stored, so a copy of the ``sessions`` table cannot be replayed as a cookie.
- :func:`lookup_session` turns the cookie's id into the signed-in user and
  their session, or None when it is unknown, past its idle or absolute end
  (:class:`SessionPolicy`, from ``[admin]``), older than the user's
  ``sessions_valid_after`` ("log out everywhere"), or belongs to a disabled
  user. It also notes the visit (:func:`touch_session`), at most once a minute.
- A session made after a right password for a user with a second factor is
  *pending*: :func:`lookup_session` never accepts it; only
  :func:`lookup_pending_login` (the code page) does, for
  :data:`SECOND_FACTOR_WINDOW`. :mod:`.login` replaces it by a full session.
- :func:`rotate_session` gives the same session a new id (after a privilege
  change): the old id stops working at once.
- Every session has its own CSRF secret; a form carries it and
  :func:`csrf_matches` compares in constant time.
- Signing a user out everywhere is :func:`newsletter.workspace.users.log_out_everywhere`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, delete, select, update

from newsletter.store.lists import aware, utcnow
from newsletter.store.schema import sessions
from newsletter.workspace.audit import record
from newsletter.workspace.settings import AdminSettings
from newsletter.workspace.users import UserRow, get_user_by_id

SECOND_FACTOR_WINDOW = timedelta(minutes=5)
# last_seen_at is written at most this often: a page and its requests need not each write a row.
TOUCH_EVERY = timedelta(seconds=60)
_USER_AGENT_MAX = 300
_RAW_ID_MAX = 128


@dataclass(frozen=True)
class SessionPolicy:
    """How long a session lives: ``idle`` without a request, ``absolute`` after it began."""

    idle: timedelta
    absolute: timedelta

    @classmethod
    def from_settings(cls, admin: AdminSettings) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=admin.session_idle_minutes),
            absolute=timedelta(hours=admin.session_max_hours),
        )


@dataclass(frozen=True)
class SessionRow:
    id: int
    user_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    second_factor_pending: bool
    ip: str | None
    user_agent: str | None
    csrf_secret: str = field(repr=False)


@dataclass(frozen=True)
class NewSession:
    """A session just made: ``token`` is the raw id for the cookie, here and nowhere else."""

    token: str = field(repr=False)
    session: SessionRow


@dataclass(frozen=True)
class SignedIn:
    user: UserRow
    session: SessionRow


def session_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session(row: Row) -> SessionRow:
    return SessionRow(
        id=row.id,
        user_id=row.user_id,
        created_at=aware(row.created_at),
        last_seen_at=aware(row.last_seen_at),
        expires_at=aware(row.expires_at),
        second_factor_pending=bool(row.second_factor_pending),
        ip=row.ip,
        user_agent=row.user_agent,
        csrf_secret=row.csrf_secret,
    )


def create_session(
    conn: Connection,
    user: UserRow,
    policy: SessionPolicy,
    *,
    ip: str | None = None,
    user_agent: str | None = None,
    second_factor_pending: bool = False,
    now: datetime | None = None,
) -> NewSession:
    """A new session for ``user``; pending ones last :data:`SECOND_FACTOR_WINDOW` at most."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    lifetime = min(policy.absolute, SECOND_FACTOR_WINDOW) if second_factor_pending else policy.absolute
    values = {
        "id_hash": session_hash(token),
        "user_id": user.id,
        "created_at": now,
        "last_seen_at": now,
        "expires_at": now + lifetime,
        "second_factor_pending": second_factor_pending,
        "ip": ip[:64] if ip else None,
        "user_agent": user_agent[:_USER_AGENT_MAX] if user_agent else None,
        "csrf_secret": secrets.token_urlsafe(32),
    }
    new_id = conn.execute(sessions.insert().values(**values).returning(sessions.c.id)).scalar_one()
    row = conn.execute(select(sessions).where(sessions.c.id == new_id)).one()
    return NewSession(token, _session(row))


def _find(
    conn: Connection, token: str | None, policy: SessionPolicy | None, now: datetime
) -> SignedIn | None:
    """The session and its user when the session is alive; a dead one is deleted on the way."""
    if not token or len(token) > _RAW_ID_MAX:
        return None
    row = conn.execute(select(sessions).where(sessions.c.id_hash == session_hash(token))).first()
    if row is None:
        return None
    session = _session(row)
    user = get_user_by_id(conn, session.user_id)
    idle_over = policy is not None and session.last_seen_at + policy.idle <= now
    if (
        user is None
        or user.disabled
        or session.expires_at <= now
        or idle_over
        or session.created_at < user.sessions_valid_after
    ):
        conn.execute(delete(sessions).where(sessions.c.id == session.id))
        return None
    return SignedIn(user, session)


def lookup_session(
    conn: Connection, token: str | None, policy: SessionPolicy, *, now: datetime | None = None
) -> SignedIn | None:
    """The signed-in user and session for a cookie's raw id, or None; notes the visit."""
    now = now or utcnow()
    found = _find(conn, token, policy, now)
    if found is None or found.session.second_factor_pending:
        return None
    return SignedIn(found.user, touch_session(conn, found.session, now=now))


def lookup_pending_login(
    conn: Connection, token: str | None, *, now: datetime | None = None
) -> SignedIn | None:
    """The user half-way through signing in (password right, code still to come), or None."""
    now = now or utcnow()
    found = _find(conn, token, None, now)
    if found is None or not found.session.second_factor_pending:
        return None
    return found


def touch_session(conn: Connection, session: SessionRow, *, now: datetime | None = None) -> SessionRow:
    """Note that the session was used now (written at most every :data:`TOUCH_EVERY`)."""
    now = now or utcnow()
    if now - session.last_seen_at < TOUCH_EVERY:
        return session
    conn.execute(update(sessions).where(sessions.c.id == session.id).values(last_seen_at=now))
    return replace(session, last_seen_at=now)


def rotate_session(
    conn: Connection, token: str, policy: SessionPolicy, *, now: datetime | None = None
) -> NewSession | None:
    """A new raw id (and CSRF secret) for a live session; the old id stops working now. None if dead."""
    now = now or utcnow()
    found = _find(conn, token, policy, now)
    if found is None:
        return None
    fresh = secrets.token_urlsafe(32)
    conn.execute(
        update(sessions)
        .where(sessions.c.id == found.session.id)
        .values(id_hash=session_hash(fresh), csrf_secret=secrets.token_urlsafe(32), last_seen_at=now)
    )
    row = conn.execute(select(sessions).where(sessions.c.id == found.session.id)).one()
    return NewSession(fresh, _session(row))


def end_session(
    conn: Connection, token: str | None, *, ip: str | None = None, now: datetime | None = None
) -> bool:
    """Sign out: the session is deleted (and the sign-out audited). False when there was none."""
    now = now or utcnow()
    found = _find(conn, token, None, now)
    if found is None:
        return False
    conn.execute(delete(sessions).where(sessions.c.id == found.session.id))
    if not found.session.second_factor_pending:
        record(conn, found.user.actor(ip), "logout", found.user.email, now=now)
    return True


def prune_sessions(conn: Connection, policy: SessionPolicy, *, now: datetime | None = None) -> int:
    """Delete every session past its absolute or idle end; returns how many."""
    now = now or utcnow()
    result = conn.execute(
        delete(sessions).where(
            (sessions.c.expires_at <= now) | (sessions.c.last_seen_at <= now - policy.idle)
        )
    )
    return result.rowcount


def sessions_of(conn: Connection, user: UserRow) -> list[SessionRow]:
    """The user's sessions, newest first (for a "where am I signed in" page)."""
    query = select(sessions).where(sessions.c.user_id == user.id).order_by(sessions.c.id.desc())
    return [_session(row) for row in conn.execute(query)]


def csrf_matches(session: SessionRow, submitted: str | None) -> bool:
    """Whether a form's CSRF field carries this session's secret (constant-time)."""
    return bool(submitted) and hmac.compare_digest(session.csrf_secret.encode(), (submitted or "").encode())
