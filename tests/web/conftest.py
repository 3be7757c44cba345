"""Fixtures for the web service: an app on a real database, a client, the outbox, seeding helpers.

Requests go through ``httpx.ASGITransport`` (in-process, no sockets) with a
persistent event loop, so a test reads like a sequence of HTTP calls and
cookies carry over between them like in a browser.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, func, select

from newsletter.config import Settings
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.db import open_engine
from newsletter.store.lists import ListRow, utcnow
from newsletter.store.schema import deliveries, sends, subscribers
from newsletter.tokens import LinkOwner
from newsletter.web import RateLimits, create_app
from tests.web.webhook_signing import SendGridKeys, set_webhook_secrets

BASE = "https://nyhedsbrev.example.org"
CONSENT = "Jeg vil gerne modtage Erhvervsnyt fra BusinessBallerup. Jeg kan altid framelde mig."


class AppClient:
    """A synchronous face on httpx.AsyncClient + ASGITransport, one event loop per test."""

    def __init__(
        self,
        app: Any,
        *,
        raise_app_exceptions: bool = True,
        client_address: tuple[str, int] = ("127.0.0.1", 123),
    ) -> None:
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(
            app=app, raise_app_exceptions=raise_app_exceptions, client=client_address
        )
        self.client = httpx.AsyncClient(transport=transport, base_url=BASE, follow_redirects=False)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self.loop.run_until_complete(self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self.client.cookies

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return open_engine(settings.database_url)


@pytest.fixture
def erhverv(engine: Engine) -> ListRow:
    with engine.begin() as conn:
        return list_store.create_list(
            conn, "erhverv", "Erhvervsnyt", "Nyt til virksomheder i Ballerup.", "da", CONSENT
        )


@pytest.fixture
def app(settings: Settings, erhverv: ListRow) -> Any:
    return create_app(settings, rate_limits=RateLimits(per_ip=50, per_address=3))


@pytest.fixture
def client(app: Any) -> Iterator[AppClient]:
    app_client = AppClient(app)
    yield app_client
    app_client.close()


def outbox_messages(settings: Settings) -> list[EmailMessage]:
    folder = settings.provider.options.outbox_dir
    files = sorted(folder.rglob("*.eml"), key=lambda p: p.stat().st_mtime_ns) if folder.exists() else []
    return [email.message_from_bytes(p.read_bytes(), policy=email.policy.default) for p in files]


def text_part(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    return str(body.get_content())


def confirm_link(message: EmailMessage) -> str:
    match = re.search(r"https://\S+/confirm/\S+", text_part(message))
    assert match, "no confirmation link in the message"
    return match.group(0)


def csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF field in the page"
    return match.group(1)


def sign_up(
    client: AppClient, email_address: str, *, list_name: str = "erhverv", **extra: str
) -> httpx.Response:
    form = client.get(f"/subscribe/{list_name}")
    data = {"csrf_token": csrf_token(form.text), "email": email_address, **extra}
    return client.post(f"/subscribe/{list_name}", data=data)


def add_member(
    engine: Engine, email_address: str, list_name: str = "erhverv", name: str | None = None
) -> int:
    with engine.begin() as conn:
        row = subscriber_store.add_subscriber(
            conn,
            email_address,
            list_name,
            name=name,
            state="subscribed",
            method="manual",
            consent_text="test",
        )
        return row.id


def owner_of(engine: Engine, subscriber_id: int) -> LinkOwner:
    """What links made for this subscriber carry (id and link key)."""
    with engine.connect() as conn:
        row = subscriber_store.get_subscriber_by_id(conn, subscriber_id)
    assert row is not None, f"no subscriber {subscriber_id}"
    return row.link_owner


def membership(engine: Engine, subscriber_id: int, list_id: int) -> str | None:
    with engine.connect() as conn:
        return subscriber_store.membership_state(conn, subscriber_id, list_id)


def add_delivery(
    engine: Engine,
    subscriber_id: int,
    the_list: ListRow,
    *,
    issue: str = "2020-03-02-nyt-fra-erhvervsservice",
    message_id: str | None = None,
    status: str = "done",
) -> int:
    """A send of ``issue`` to ``the_list`` (created once) and one sent ledger row for the subscriber."""
    now = utcnow()
    with engine.begin() as conn:
        send_id = conn.execute(
            select(sends.c.id).where(sends.c.issue == issue, sends.c.list_id == the_list.id)
        ).scalar_one_or_none()
        if send_id is None:
            send_id = conn.execute(
                sends.insert()
                .values(
                    issue=issue,
                    list_id=the_list.id,
                    subject="Nyt",
                    provider="outbox",
                    status=status,
                    created_at=now,
                )
                .returning(sends.c.id)
            ).scalar_one()
        subscriber = subscriber_store.get_subscriber_by_id(conn, subscriber_id)
        assert subscriber is not None
        return int(
            conn.execute(
                deliveries.insert()
                .values(
                    send_id=send_id,
                    issue=issue,
                    subscriber_id=subscriber_id,
                    email_hash=subscriber.email_hash,
                    state="sent",
                    attempts=1,
                    provider="outbox",
                    message_id=message_id,
                    created_at=now,
                    updated_at=now,
                    sent_at=now,
                )
                .returning(deliveries.c.id)
            ).scalar_one()
        )


def count(engine: Engine, table: Any, *where: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


@pytest.fixture
def issue_files(settings: Settings) -> list[Path]:
    return sorted(settings.issues_dir.glob("*.md"))


@pytest.fixture
def sendgrid_keys(monkeypatch: pytest.MonkeyPatch) -> SendGridKeys:
    """Every provider's webhook secret set (SendGrid's a fresh key pair, returned for signing)."""
    keys = SendGridKeys()
    set_webhook_secrets(monkeypatch, keys)
    return keys


def subscriber_status(engine: Engine, subscriber_id: int) -> str:
    with engine.connect() as conn:
        query = select(subscribers.c.status).where(subscribers.c.id == subscriber_id)
        return str(conn.execute(query).scalar_one())


def mark_sent(engine: Engine, the_list: ListRow, issue: str, days_ago: int = 1, status: str = "done") -> None:
    """A send of ``issue`` to ``the_list`` in ``status`` (the archive publishes 'sending' and 'done')."""
    with engine.begin() as conn:
        conn.execute(
            sends.insert().values(
                issue=issue,
                list_id=the_list.id,
                subject=issue,
                provider="outbox",
                status=status,
                created_at=utcnow() - timedelta(days=days_ago),
            )
        )
