"""Reading a provider's answer: only what proves "not processed" may be retried without a key.

Every way an answer can be misread (issue 9): a 5xx, a redirect, a success of
the wrong shape, a timeout on connect versus on read, a header that says
anything. Real adapters, answers from ``httpx.MockTransport``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from botocore.credentials import Credentials

from newsletter.errors import ProviderPermanent, ProviderRetryable
from newsletter.providers.base import Outcome, Provider, UnreadableAnswer, retry_after_seconds
from newsletter.providers.brevo import BrevoProvider
from newsletter.providers.mailgun import MailgunProvider
from newsletter.providers.postmark import PostmarkProvider
from newsletter.providers.resend import ResendProvider
from newsletter.providers.sendgrid import SendGridProvider
from newsletter.providers.ses import SesProvider
from tests.providers.conftest import ambiguous_outcome, make_batch

Handler = Callable[[httpx.Request], httpx.Response]
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def adapter(name: str, handler: Handler) -> Provider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    if name == "postmark":
        return PostmarkProvider(client, "https://api.postmarkapp.com", server_token="t")
    if name == "sendgrid":
        return SendGridProvider(client, "https://api.sendgrid.com", api_key="k")
    if name == "mailgun":
        return MailgunProvider(client, "https://api.mailgun.net", api_key="k", domain="mg.balk.dk")
    if name == "brevo":
        return BrevoProvider(client, "https://api.brevo.com", api_key="k")
    if name == "ses":
        return SesProvider(
            client, "https://email.eu-north-1.amazonaws.com", credentials=Credentials("AKID", "s")
        )
    return ResendProvider(client, "https://api.resend.com", api_key="k")


PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend", "brevo", "ses")


# -- Retry-After and rate-limit reset headers ---------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": " 2.5 "}, 2.5),
        ({"Retry-After": "-30"}, 0.0),
        ({"Retry-After": "99999999999999"}, 99999999999999.0),  # read as is; the engine caps it
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"Retry-After": "1e999"}, None),
        ({"Retry-After": "soon, please"}, None),
        ({"Retry-After": "Fri, 31 Dec 9999 23:59:59 GMT"}, 253402300799.0 - NOW),
        ({"Retry-After": format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=90))}, 90.0),
        ({"Retry-After": "Wed, 01 Jan 2025 00:00:00 -0000"}, 0.0),  # in the past
        ({"X-RateLimit-Reset": str(int(NOW + 42))}, 42.0),  # epoch seconds (SendGrid)
        ({"X-RateLimit-Reset": str(int((NOW + 42) * 1000))}, 42.0),  # epoch milliseconds
        ({"ratelimit-reset": "3"}, 3.0),  # seconds (Resend)
        ({"ratelimit-reset": "nan", "x-ratelimit-reset": "5"}, 5.0),
        ({"X-RateLimit-Reset": "garbage"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_defensively(headers: dict[str, str], expected: float | None) -> None:
    seconds = retry_after_seconds(httpx.Headers(headers), now=NOW)
    if expected is None:
        assert seconds is None
    else:
        assert seconds == pytest.approx(expected, abs=1.0)


# -- statuses -----------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("status", [500, 502, 503, 504, 520])
def test_every_5xx_is_ambiguous(name: str, status: int) -> None:
    answer = httpx.Response(status, text="<h1>Bad gateway</h1>")
    reason, _maybe_sent, _raised = ambiguous_outcome(adapter(name, lambda request: answer), make_batch(2))
    assert str(status) in reason


@pytest.mark.parametrize("name", PROVIDERS)
def test_429_proves_nothing_was_taken(name: str) -> None:
    answer = httpx.Response(429, headers={"Retry-After": "3"}, json={"message": "slow down"})
    with pytest.raises(ProviderRetryable) as caught:
        adapter(name, lambda request: answer).send_batch(make_batch(2))
    assert caught.value.retry_after == 3.0


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_unreadable_and_names_the_base_url(name: str, status: int) -> None:
    answer = httpx.Response(status, headers={"Location": "https://example.org/elsewhere"})
    outcome = ambiguous_outcome(adapter(name, lambda request: answer), make_batch(2))
    assert re.search(r"redirect.*\[provider\] base_url", outcome.reason)
    # Raised for a batch, it stops the run; an unknown message stops it as well.
    assert outcome.raised is None or isinstance(outcome.raised, UnreadableAnswer)


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize("status", [201, 204])
def test_an_undocumented_success_status_is_never_not_sent(name: str, status: int) -> None:
    outcome = ambiguous_outcome(adapter(name, lambda request: httpx.Response(status)), make_batch(2))
    assert "may have been delivered" in outcome.reason
    assert outcome.raised is None or isinstance(outcome.raised, UnreadableAnswer)


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_body_in_a_lying_charset_is_still_reported(name: str) -> None:
    answer = httpx.Response(
        400, content=b"\xff\xfe bad", headers={"Content-Type": "text/plain; charset=nope"}
    )
    with pytest.raises(ProviderPermanent):
        adapter(name, lambda request: answer).send_batch(make_batch(2))


# -- transport ----------------------------------------------------------------------------------
def _raises(exc: Exception) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc

    return handler


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_connect_timeout_is_provably_unsent(name: str) -> None:
    with pytest.raises(ProviderRetryable, match="could not connect"):
        adapter(name, _raises(httpx.ConnectTimeout("timed out"))).send_batch(make_batch(2))


@pytest.mark.parametrize("name", PROVIDERS)
@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ReadError("connection reset by peer"),  # reset mid-body
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        httpx.WriteTimeout("timed out"),
    ],
)
def test_a_failure_after_sending_is_ambiguous(name: str, exc: Exception) -> None:
    reason, _maybe_sent, _raised = ambiguous_outcome(adapter(name, _raises(exc)), make_batch(2))
    assert "may have accepted" in reason


# -- Postmark's per-message answers -------------------------------------------------------------
def _postmark(entries: Callable[[int, str], object]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        messages = json.loads(request.content)
        return httpx.Response(200, json=[entries(i, m["To"]) for i, m in enumerate(messages)])

    return handler


@pytest.mark.parametrize(
    "entry",
    [
        lambda i, to: "OK",
        lambda i, to: {"Message": "OK", "MessageID": f"id-{i}"},  # no ErrorCode
        lambda i, to: {"ErrorCode": "0", "MessageID": f"id-{i}"},  # a string
        lambda i, to: {"ErrorCode": 0, "Message": "OK"},  # no MessageID
        lambda i, to: {"ErrorCode": 0, "MessageID": f"id-{i}", "To": "someone.else@example.org"},
    ],
)
def test_postmark_entries_it_cannot_read_are_unknown_never_retry(entry: Callable[[int, str], object]) -> None:
    results = adapter("postmark", _postmark(entry)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.UNKNOWN] * 3
    assert all(r.reason for r in results)


def test_postmark_a_200_with_per_message_errors_is_read_per_message() -> None:
    def entry(i: int, to: str) -> object:
        if i == 1:
            return {"ErrorCode": 406, "Message": "Inactive recipient", "To": to}
        return {"ErrorCode": 0, "Message": "OK", "MessageID": f"id-{i}", "To": to}

    results = adapter("postmark", _postmark(entry)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
