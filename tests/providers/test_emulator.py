"""The emulator itself: limits and required fields it enforces, and its use as a separate process."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from newsletter.errors import ProviderAmbiguous, ProviderPermanent
from newsletter.providers.base import Outcome
from newsletter.providers.postmark import PostmarkProvider
from newsletter.providers.ses import SesProvider
from tests.emulator import Emulator, RemoteEmulator
from tests.providers.conftest import EMULATOR_KEYS, KEYS, make_batch

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


SES_KEY = Credentials(KEYS["NEWSLETTER_SES_ACCESS_KEY_ID"], KEYS["NEWSLETTER_SES_SECRET_ACCESS_KEY"])
SES_PATH = "/v2/email/outbound-emails"
SES_EMAIL = {
    "FromEmailAddress": "a@example.org",
    "Destination": {"ToAddresses": ["b@example.com"]},
    "Content": {"Simple": {"Subject": {"Data": "Hej"}, "Body": {"Text": {"Data": "x"}}}},
}


def ses_signed(
    url: str, body: bytes, key: Credentials = SES_KEY, service: str = "ses", region: str = "eu-north-1"
) -> dict[str, str]:
    request = AWSRequest(
        method="POST", url=url + SES_PATH, data=body, headers={"Content-Type": "application/json"}
    )
    SigV4Auth(key, service, region).add_auth(request)
    return dict(request.headers.items())


def test_ses_signatures_are_recomputed_and_refused_as_aws_refuses_them(
    client: httpx.Client, emulator: Emulator
) -> None:
    body = json.dumps(SES_EMAIL).encode()

    def refusal(headers: dict[str, str], content: bytes = body) -> str:
        answer = client.post(SES_PATH, content=content, headers=headers)
        assert answer.status_code == 403
        return answer.headers["x-amzn-ErrorType"].split(":")[0]

    assert refusal({}) == "MissingAuthenticationTokenException"
    assert refusal({"Authorization": "Bearer token"}) == "IncompleteSignatureException"
    assert (
        refusal(ses_signed(emulator.url, body), body.replace(b"Hej", b"Hey")) == "InvalidSignatureException"
    )
    assert refusal(ses_signed(emulator.url, body, service="email")) == "InvalidSignatureException"
    assert (
        refusal(ses_signed(emulator.url, body, Credentials("AKIAOTHER", "x")))
        == "UnrecognizedClientException"
    )
    wrong_secret = Credentials(SES_KEY.access_key, "not-the-secret")
    assert refusal(ses_signed(emulator.url, body, wrong_secret)) == "InvalidSignatureException"
    stale = {**ses_signed(emulator.url, body), "X-Amz-Date": "20200101T000000Z"}
    assert refusal(stale) == "InvalidSignatureException"
    assert client.post(SES_PATH, content=body, headers=ses_signed(emulator.url, body)).status_code == 200
    assert emulator.count_by_address() == {"b@example.com": 1}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"Destination": {"To": ["b@example.com"]}}, "not a member"),
        ({"Content": {"Simple": {"Body": {"Text": {"Data": "x"}}}}}, "Subject: is required"),
        ({"Destination": {"ToAddresses": ["b@example.com", "c@example.com"]}}, "exactly one address"),
        ({"Destination": {"ToAddresses": ["Søren <søren@example.com>"]}}, "7-bit ASCII"),
        ({"Destination": {"ToAddresses": ["b@example"]}}, "Illegal address"),
        ({"EmailTags": [{"Name": "nl_issue", "Value": "jul 2019"}]}, "Tag names and values"),
    ],
)
def test_ses_bodies_are_checked_against_the_model_and_ses_rules(
    client: httpx.Client, emulator: Emulator, change: dict[str, object], problem: str
) -> None:
    body = json.dumps({**SES_EMAIL, **change}).encode()
    answer = client.post(SES_PATH, content=body, headers=ses_signed(emulator.url, body))
    assert answer.status_code == 400
    assert answer.headers["x-amzn-ErrorType"].startswith("BadRequestException")
    assert problem in answer.json()["message"]
    assert emulator.accepted_count() == 0


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


def test_ses_keys_are_given_to_the_process_as_id_and_secret() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", f"--key=ses={EMULATOR_KEYS['ses']}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        with httpx.Client(timeout=5) as http:
            results = SesProvider(http, url, credentials=SES_KEY).send_batch(make_batch(2))
            assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2
            with pytest.raises(ProviderPermanent, match="InvalidSignatureException"):
                SesProvider(http, url, credentials=Credentials(SES_KEY.access_key, "wrong")).send_batch(
                    make_batch(1)
                )
        assert RemoteEmulator(url).accepted_count("ses") == 2
    finally:
        process.terminate()
        process.wait(timeout=10)
