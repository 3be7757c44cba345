"""`newsletter serve` stopped (SIGTERM) in the middle of a send started from the workspace.

The server asks its send to stop after the batch in flight is recorded, then
exits: the ledger holds no row "in flight", and the rest is queued for
*Fortsæt* (or ``newsletter send``), which a new server process then finishes.

The provider is SMTP to a relay on 127.0.0.1 that takes half a second over
each message, so a message is in flight when the signal comes. SMTP has no
idempotency key: a message cut off mid-call would be left ``sending`` and
become ``unknown`` on the next run — which is what the graceful stop avoids.
"""

from __future__ import annotations

import asyncio
import re
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import Engine

from newsletter.config import load_settings
from newsletter.send.plan import find_list_id, get_send
from newsletter.send.report import send_progress
from newsletter.store.db import open_engine
from tests.conftest import write_project
from tests.smtp_relay import Relay, RelayHandler
from tests.web.admin.test_browser import PASSWORD, list_with_a_sender
from tests.web.serving import server_process

SAMPLE = "2019-12-20-tak-for-et-godt-2019"
PEOPLE = [f"modtager{number}@example.com" for number in range(6)]


class SlowRelay(RelayHandler):
    """Takes half a second over every message before it answers."""

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        await asyncio.sleep(0.5)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def relay() -> Iterator[Relay]:
    with Relay(handler=SlowRelay()) as running:
        yield running


def smtp_to(relay: Relay) -> str:
    return (
        f'[provider]\nname = "smtp"\nsmtp_host = "127.0.0.1"\nsmtp_port = {relay.port}\n'
        'smtp_security = "none"\nbatch_size = 1\n'
    )


PROGRESS = f"/admin/issues/{SAMPLE}/sends/erhverv"


def csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


class Visitor:
    """An HTTP client that keeps its cookies as a browser does for 127.0.0.1, ``Secure`` ones too
    (the workspace marks them Secure because ``[site] base_url`` is https; httpx would hold them back)."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, follow_redirects=False, timeout=30)
        self.jar: dict[str, str] = {}

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        cookie = "; ".join(f"{name}={value}" for name, value in self.jar.items())
        answer = self.http.request(method, path, headers={"cookie": cookie}, **kwargs)  # type: ignore[arg-type]
        self.jar.update(answer.cookies.items())
        return answer

    def get(self, path: str) -> httpx.Response:
        return self.request("GET", path)

    def post(self, path: str, data: dict[str, str]) -> httpx.Response:
        return self.request("POST", path, data=data)

    def close(self) -> None:
        self.http.close()


def signed_in(url: str) -> Visitor:
    client = Visitor(url)
    page = client.get("/admin/login")
    answer = client.post(
        "/admin/login", data={"csrf_token": csrf(page), "email": "lise@kommune.dk", "password": PASSWORD}
    )
    assert answer.status_code == 303, answer.text
    return client


def start_send(client: Visitor) -> httpx.Response:
    page = client.get(f"/admin/issues/{SAMPLE}/send?list=erhverv")
    return client.post(
        f"/admin/issues/{SAMPLE}/send",
        data={"csrf_token": csrf(page), "list": "erhverv", "confirm": "erhverv"},
    )


def counts(engine: Engine) -> dict[str, int]:
    return send_progress(engine, SAMPLE, "erhverv").counts


def test_a_server_stopped_mid_send_records_the_batch_in_flight_and_the_next_one_continues(
    tmp_path: Path, relay: Relay
) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    config.write_text(
        config.read_text(encoding="utf-8").replace(
            '[provider]\nname = "outbox"\noutbox_dir = "outbox"\n', smtp_to(relay)
        ),
        encoding="utf-8",
    )
    settings = load_settings(config)
    engine = open_engine(settings.database_url)
    list_with_a_sender(engine, PEOPLE)

    with server_process(config) as (url, process):
        client = signed_in(url)
        answer = start_send(client)
        assert answer.status_code == 303 and answer.headers["location"] == PROGRESS
        deadline = time.monotonic() + 20
        while counts(engine)["sent"] < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        client.close()
        process.send_signal(signal.SIGTERM)
        # uvicorn shuts down (running its lifespan end), then lets the signal end the process.
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    stopped = counts(engine)
    assert stopped["sending"] == 0, stopped  # the message in flight was recorded, not left open
    assert 3 <= stopped["sent"] < len(PEOPLE) and stopped["sent"] + stopped["queued"] == len(PEOPLE)
    with engine.connect() as conn:
        send = get_send(conn, SAMPLE, find_list_id(conn, "erhverv"))
    assert send is not None and send.status == "sending"

    with server_process(config) as (url, _process):
        client = signed_in(url)
        page = client.get(PROGRESS)
        assert "Kører ikke" in page.text and "Fortsæt" in page.text
        assert client.post(PROGRESS + "/continue", data={"csrf_token": csrf(page)}).status_code == 303
        deadline = time.monotonic() + 30
        while counts(engine)["sent"] < len(PEOPLE) and time.monotonic() < deadline:
            time.sleep(0.1)
        client.close()
    assert counts(engine) == {"queued": 0, "sending": 0, "sent": 6, "failed": 0, "skipped": 0, "unknown": 0}
    assert relay.handler.count_by_address() == dict.fromkeys(PEOPLE, 1)  # everyone once, nobody twice
