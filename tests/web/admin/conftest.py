"""Workspace (/admin) fixtures: users made through the library, a client signed in as each role.

Passwords are hashed with argon2id at its smallest cost (as in tests/workspace):
the production parameters take a few hundred milliseconds a hash.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import Engine

from newsletter.workspace import passwords
from newsletter.workspace.audit import Actor
from newsletter.workspace.links import invite_user
from newsletter.workspace.users import UserRow, get_user, set_password
from tests.web.conftest import AppClient
from tests.workspace.conftest import QUICK_HASHER

PASSWORD = "blåbærgrød med fløde"
CLI = Actor(None, "cli:test")

MakeUser = Callable[..., UserRow]


@pytest.fixture(autouse=True)
def _quick_hashes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(passwords, "HASHER", QUICK_HASHER)
    yield


@pytest.fixture
def make_user(engine: Engine) -> MakeUser:
    """A user added as ``newsletter users add`` adds them, with a password already chosen."""

    def make(email: str = "jens@kommune.dk", role: str = "editor", *, language: str = "da") -> UserRow:
        with engine.begin() as conn:
            link = invite_user(conn, email, role, actor=CLI, language=language)
            return set_password(conn, link.user, PASSWORD, actor=CLI)

    return make


def csrf_of(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the page"
    return match.group(1)


def log_in(client: AppClient, email: str, password: str = PASSWORD, **extra: str) -> Any:
    page = client.get("/admin/login")
    return client.post(
        "/admin/login", data={"csrf_token": csrf_of(page.text), "email": email, "password": password, **extra}
    )


def user_named(engine: Engine, email: str) -> UserRow:
    with engine.connect() as conn:
        found = get_user(conn, email)
    assert found is not None
    return found


@pytest.fixture
def signed_in(app: Any, make_user: MakeUser, engine: Engine) -> Iterator[Callable[..., AppClient]]:
    """A new client signed in as a user of ``role`` (made unless the address exists); closed after the test."""
    clients: list[AppClient] = []

    def user_named_or_none(address: str) -> UserRow | None:
        with engine.connect() as conn:
            return get_user(conn, address)

    def sign_in(role: str = "admin", email: str | None = None, *, language: str = "da") -> AppClient:
        address = email or f"{role}@kommune.dk"
        if user_named_or_none(address) is None:
            make_user(address, role, language=language)
        client = AppClient(app)
        clients.append(client)
        answer = log_in(client, address)
        assert answer.status_code == 303, answer.text
        return client

    yield sign_in
    for client in clients:
        client.close()
