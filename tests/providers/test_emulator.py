"""The emulator itself: limits and required fields it enforces, and its use as a separate process."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous
from newsletter.providers.postmark import PostmarkProvider
from tests.emulator import Emulator, RemoteEmulator
from tests.providers.conftest import EMULATOR_KEYS, make_batch

REPO = Path(__file__).resolve().parents[2]
POSTMARK = {"X-Postmark-Server-Token": EMULATOR_KEYS["postmark"]}
BEARER_SENDGRID = {"Authorization": f"Bearer {EMULATOR_KEYS['sendgrid']}"}
BEARER_RESEND = {"Authorization": f"Bearer {EMULATOR_KEYS['resend']}"}
MESSAGE = {"From": "a@example.org", "To": "b@example.com", "Subject": "Hej", "TextBody": "x"}


@pytest.fixture
def client(emulator: Emulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=5) as http:
        yield http


def test_postmark_limits_and_required_fields(client: httpx.Client, emulator: Emulator) -> None:
    too_many = client.post("/email/batch", json=[MESSAGE] * 501, headers=POSTMARK)
    assert too_many.status_code == 422 and too_many.json()["ErrorCode"] == 410
    answer = client.post(
        "/email/batch",
        json=[MESSAGE, {**MESSAGE, "Subject": ""}, {k: v for k, v in MESSAGE.items() if k != "TextBody"}],
        headers=POSTMARK,
    ).json()
    assert [entry["ErrorCode"] for entry in answer] == [0, 300, 300]
    assert "TextBody or HtmlBody" in answer[2]["Message"]
    assert emulator.accepted_count() == 1


def test_sendgrid_limits_and_field_errors(client: httpx.Client) -> None:
    mail = {
        "personalizations": [{"to": [{"email": "b@example.com"}]}] * 1001,
        "from": {"email": "a@example.org"},
        "subject": "Hej",
        "content": [{"type": "text/plain", "value": "x"}],
    }
    assert client.post("/v3/mail/send", json=mail, headers=BEARER_SENDGRID).status_code == 400
    mail["personalizations"] = [{"to": [{"email": "b@example.com"}]}, {"to": [{"email": "nope"}]}]
    mail["content"] = [{"type": "text/html", "value": "<p>x</p>"}, {"type": "text/plain", "value": "x"}]
    errors = client.post("/v3/mail/send", json=mail, headers=BEARER_SENDGRID).json()["errors"]
    fields = {e["field"] for e in errors}
    assert fields == {"content", "personalizations.1.to.0.email"}


def test_resend_limits(client: httpx.Client) -> None:
    email = {"from": "a@example.org", "to": ["b@example.com"], "subject": "Hej", "text": "x"}
    assert client.post("/emails/batch", json=[email] * 101, headers=BEARER_RESEND).status_code == 422
    bad_tag = {**email, "tags": [{"name": "issue", "value": "2019 æøå"}]}
    refused = client.post("/emails/batch", json=[bad_tag], headers=BEARER_RESEND)
    assert refused.status_code == 422 and "Tags" in refused.json()["message"]


def test_mailgun_needs_an_entry_per_recipient_in_recipient_variables(client: httpx.Client) -> None:
    form = {
        "from": "a@example.org",
        "to": ["b@example.com", "c@example.com"],
        "subject": "Hej",
        "text": "Hej %recipient.name%",
        "recipient-variables": '{"b@example.com": {"name": "B"}}',
    }
    answer = client.post("/v3/mg.example.org/messages", data=form, auth=("api", EMULATOR_KEYS["mailgun"]))
    assert answer.status_code == 400 and "c@example.com" in answer.json()["message"]


def test_concurrent_requests_are_all_recorded(emulator: Emulator) -> None:
    def send(number: int) -> None:
        with httpx.Client(timeout=10) as http:
            provider = PostmarkProvider(http, emulator.url, server_token=EMULATOR_KEYS["postmark"])
            batch = make_batch(50)
            recipients = [
                type(r)(f"t{number}-{r.email}", r.name, r.values, r.headers, r.metadata)
                for r in batch.recipients
            ]
            provider.send_batch(type(batch)(batch.content, recipients))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(send, range(8)))
    counts = emulator.count_by_address()
    assert len(counts) == 400 and set(counts.values()) == {1}


def test_unknown_fault_is_refused(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        emulator.inject("meteor_strike")


def test_record_counts_only_keeps_no_addresses() -> None:
    with Emulator(record="counts") as emulator, httpx.Client() as http:
        PostmarkProvider(http, emulator.url, server_token="any-token").send_batch(make_batch(10))
        assert emulator.accepted_count("postmark") == 10
        assert emulator.accepted == [] and emulator.requests == []


def test_runs_as_a_process_controlled_over_http() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        remote = RemoteEmulator(url)
        with httpx.Client(timeout=5) as http:
            provider = PostmarkProvider(http, url, server_token="any-token")
            remote.inject("server_error", provider="postmark", status=503)
            with pytest.raises(ProviderAmbiguous, match="503"):
                provider.send_batch(make_batch(2))
            remote.mark_inactive("modtager1@example.com")
            provider.send_batch(make_batch(3))
        assert remote.count_by_address() == {"modtager0@example.com": 1, "modtager2@example.com": 1}
        assert remote.accepted_count() == 2
        assert {a.provider for a in remote.accepted} == {"postmark"}
        remote.reset()
        assert remote.accepted == []
        remote.close()
    finally:
        process.terminate()
        process.wait(timeout=10)
