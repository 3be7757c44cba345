"""The whole life of a subscriber against a real ``newsletter serve`` process and the real ``send`` CLI.

sign up → confirmation .eml in the outbox → confirm (POST) → an issue arrives →
one-click unsubscribe with the exact request Gmail sends, to the URL in the
message's List-Unsubscribe header → the next send skips the address.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from newsletter.config import load_settings
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.db import open_engine
from newsletter.store.schema import memberships
from tests.conftest import write_project
from tests.web.serving import run_cli, serving, wait_for_files

FIRST = "2019-12-20-tak-for-et-godt-2019"
SECOND = "2020-03-02-nyt-fra-erhvervsservice"
BASE = "https://nyhedsbrev.example.org"


def _messages(folder: Path) -> list[email.message.EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def _recipients(folder: Path) -> set[str]:
    return {message["To"].addresses[0].addr_spec for message in _messages(folder)}


@pytest.mark.slow
def test_subscriber_life_through_a_real_server(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db")
    settings = load_settings(config)
    engine = open_engine(settings.database_url)
    with engine.begin() as conn:
        the_list = list_store.create_list(
            conn, "erhverv", "Erhvervsnyt", "Nyt til virksomheder.", "da", "Ja tak."
        )
        subscriber_store.add_subscriber(
            conn, "kollega@example.com", "erhverv", state="subscribed", method="manual", consent_text="test"
        )
    outbox = settings.provider.options.outbox_dir

    with serving(config) as url, httpx.Client(base_url=url, follow_redirects=False) as browser:
        # 1. Sign up through the form, as a browser would (cookie + CSRF field).
        form = browser.get("/subscribe/erhverv")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token
        answer = browser.post(
            "/subscribe/erhverv",
            data={"csrf_token": token.group(1), "email": "ny@example.com", "name": "Ny Læser"},
        )
        assert answer.status_code == 200 and "Tjek din indbakke" in answer.text

        # 2. The confirmation message is in the outbox; confirm with a POST.
        wait_for_files(outbox / "confirm")
        [confirmation] = _messages(outbox / "confirm")
        assert confirmation["To"].addresses[0].addr_spec == "ny@example.com"
        body = confirmation.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        link = re.search(r"https://\S+/confirm/\S+", body)
        assert link
        path = link.group(0).removeprefix(BASE)
        assert "Bekræft tilmelding" in browser.get(path).text
        assert "du er tilmeldt" in browser.post(path, data={}).text

        # 3. An issue is sent with the real CLI and reaches the new subscriber.
        sent = run_cli(config, "send", FIRST, "--list", "erhverv", "--yes")
        assert sent.returncode == 0, sent.stderr
        assert _recipients(outbox / FIRST) == {"ny@example.com", "kollega@example.com"}
        [received] = [
            m for m in _messages(outbox / FIRST) if m["To"].addresses[0].addr_spec == "ny@example.com"
        ]
        assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        one_click = re.search(r"<(https://[^>]+)>", received["List-Unsubscribe"])
        assert one_click

        # 4. The exact request Gmail makes: POST, urlencoded, this body, no cookies.
        gmail = httpx.post(
            url + one_click.group(1).removeprefix(BASE),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            follow_redirects=False,
        )
        assert gmail.status_code == 200
        assert "location" not in gmail.headers

    with engine.connect() as conn:
        person = subscriber_store.get_subscriber(conn, "ny@example.com")
        assert person is not None
        state, source = conn.execute(
            select(memberships.c.state, memberships.c.unsubscribe_source).where(
                memberships.c.subscriber_id == person.id, memberships.c.list_id == the_list.id
            )
        ).one()
    assert (state, source) == ("unsubscribed", "one-click")

    # 5. The next send skips the address.
    second = run_cli(config, "send", SECOND, "--list", "erhverv", "--yes")
    assert second.returncode == 0, second.stderr
    assert _recipients(outbox / SECOND) == {"kollega@example.com"}
