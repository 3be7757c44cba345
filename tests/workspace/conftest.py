"""Workspace fixtures: a migrated engine on each database, users made through the library, a fixed clock.

Passwords are hashed with argon2id at its smallest cost here (the production
parameters take a few hundred milliseconds a hash on this machine, and these
tests hash dozens of times); test_passwords.py checks the production
parameters themselves, and that a hash made with other parameters is
upgraded at the next sign-in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine

from newsletter.store import db
from newsletter.workspace import passwords
from newsletter.workspace.audit import Actor
from newsletter.workspace.sessions import SessionPolicy
from newsletter.workspace.settings import AdminSettings
from newsletter.workspace.users import UserRow, create_user, enable_totp, set_password

NOW = datetime(2021, 1, 4, 9, 0, tzinfo=UTC)
PASSWORD = "blåbærgrød med fløde"
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CLI = Actor(None, "cli:test")
QUICK_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PRODUCTION_HASHER = passwords.HASHER  # taken before any test swaps in QUICK_HASHER
POLICY = SessionPolicy.from_settings(AdminSettings())

MakeUser = Callable[..., UserRow]


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(passwords, "HASHER", QUICK_HASHER)
    yield


@pytest.fixture
def engine(database_url: str) -> Engine:
    return db.open_engine(database_url)


@pytest.fixture
def make_user(engine: Engine) -> MakeUser:
    """A user made as the workspace makes them; with a password and/or a second factor when asked."""

    def make(
        email: str = "jens@kommune.dk",
        role: str = "editor",
        *,
        password: str | None = PASSWORD,
        totp_secret: str | None = None,
        name: str = "Jens Hansen",
        at: datetime = NOW - timedelta(days=1),
    ) -> UserRow:
        with engine.begin() as conn:
            user = create_user(conn, email, role, actor=CLI, name=name, now=at)
            if password is not None:
                user = set_password(conn, user, password, actor=CLI, now=at)
            if totp_secret is not None:
                from_app = code_at(totp_secret, at)
                user = enable_totp(conn, user, totp_secret, from_app, actor=CLI, now=at)
        return user

    return make


def code_at(secret: str, when: datetime) -> str:
    """What the user's authenticator app (any RFC 6238 app: 6 digits, 30 s) shows at ``when``."""
    return pyotp.TOTP(secret).at(when)
