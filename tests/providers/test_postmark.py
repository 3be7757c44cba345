"""Postmark adapter: the exact batch it posts, and how each per-message ErrorCode is read."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous, ProviderPermanent
from newsletter.personalize import merge
from newsletter.providers.base import Outcome
from newsletter.providers.postmark import PostmarkProvider
from tests.emulator import Emulator
from tests.providers.conftest import EMULATOR_KEYS, LIST_HEADERS, make_batch

TOKEN = EMULATOR_KEYS["postmark"]


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> PostmarkProvider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return PostmarkProvider(client, "https://api.postmarkapp.com", server_token=TOKEN)


def ok_for_all(request: httpx.Request) -> httpx.Response:
    messages = json.loads(request.content)
    return httpx.Response(
        200, json=[{"ErrorCode": 0, "Message": "OK", "MessageID": f"id-{i}"} for i in range(len(messages))]
    )


def test_posts_one_rendered_message_per_recipient() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok_for_all(request)

    batch = make_batch(2)
    results = mocked(handler).send_batch(batch)

    request = seen[0]
    assert request.method == "POST"
    assert str(request.url) == "https://api.postmarkapp.com/email/batch"
    assert request.headers["X-Postmark-Server-Token"] == TOKEN
    messages = json.loads(request.content)
    html, text = merge(batch.content.html, batch.content.text, batch.recipients[1].values)
    assert messages[1] == {
        "From": "BusinessBallerup <nyhedsbrev@example.org>",
        "To": "Jens Hansen 1 <modtager1@example.com>",
        "Subject": "Nyhedsbrev: Tak for et godt år — æøå",
        "HtmlBody": html,
        "TextBody": text,
        "MessageStream": "broadcast",
        "ReplyTo": "jrau@balk.dk",
        "Tag": "2019-12-20-tak-for-et-godt-2019",
        "Headers": [
            {
                "Name": "List-Unsubscribe",
                "Value": "<https://nyhedsbrev.example.org/u/token1>, "
                "<mailto:afmeld@example.org?subject=unsubscribe>",
            },
            {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
            {"Name": "List-Id", "Value": LIST_HEADERS["List-Id"]},
            {"Name": "Feedback-ID", "Value": LIST_HEADERS["Feedback-ID"]},
        ],
        "Metadata": {
            "nl_issue": "2019-12-20-tak-for-et-godt-2019",
            "nl_subscriber": "1001",
            "nl_delivery": "5001",
        },
    }
    assert [r.message_id for r in results] == ["id-0", "id-1"]


def test_display_names_with_specials_are_quoted() -> None:
    seen: list[dict[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.extend(json.loads(request.content))
        return ok_for_all(request)

    batch = make_batch(1, from_name="Ballerup Kommune, Erhverv")
    mocked(handler).send_batch(batch)
    assert seen[0]["From"] == '"Ballerup Kommune, Erhverv" <nyhedsbrev@example.org>'


@pytest.mark.parametrize(
    ("code", "message", "outcome", "suppress"),
    [
        (406, "You tried to send to recipient(s) that have been marked as inactive.", Outcome.REJECTED, True),
        (300, "Invalid 'To' address: 'modtager1@example.com'.", Outcome.REJECTED, True),
        (300, "Provide either email TextBody or HtmlBody or both.", Outcome.REJECTED, False),
        (429, "Rate limit exceeded", Outcome.RETRY, False),
        (412, "Account is pending", Outcome.REJECTED, False),
    ],
)
def test_per_message_error_codes(code: int, message: str, outcome: Outcome, suppress: bool) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=[
                {"ErrorCode": 0, "Message": "OK", "MessageID": "a"},
                {"ErrorCode": code, "Message": message},
                {"ErrorCode": 0, "Message": "OK", "MessageID": "c"},
            ],
        )

    results = mocked(handler).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, outcome, Outcome.ACCEPTED]
    assert results[1].suppress is suppress
    assert str(code) in results[1].reason


def test_whole_request_refusal_is_permanent_with_postmarks_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={"ErrorCode": 300, "Message": "Invalid 'From' address: 'x'."})

    with pytest.raises(ProviderPermanent, match=r"HTTP 422: ErrorCode 300: Invalid 'From' address"):
        mocked(handler).send_batch(make_batch(1))


def test_answer_of_the_wrong_length_is_ambiguous_not_success() -> None:
    with pytest.raises(
        ProviderAmbiguous,
        match=r"0 results for a batch of 2.*may have been delivered.*check \[provider\] base_url",
    ):
        mocked(lambda request: httpx.Response(200, json=[])).send_batch(make_batch(2))


def test_batch_over_500_is_refused_before_any_request() -> None:
    calls: list[httpx.Request] = []
    provider = mocked(lambda request: calls.append(request) or httpx.Response(200, json=[]))  # type: ignore[func-returns-value]
    with pytest.raises(ValueError, match="at most 500"):
        provider.send_batch(make_batch(501))
    assert calls == []


def test_against_the_emulator(emulator: Emulator, http: httpx.Client) -> None:
    emulator.mark_inactive("modtager1@example.com")
    provider = PostmarkProvider(http, emulator.url, server_token=TOKEN, message_stream="newsletters")
    results = provider.send_batch(make_batch(3))

    assert [(r.outcome, r.suppress) for r in results] == [
        (Outcome.ACCEPTED, False),
        (Outcome.REJECTED, True),
        (Outcome.ACCEPTED, False),
    ]
    accepted = {a.email: a.message_id for a in emulator.accepted}
    assert accepted == {
        "modtager0@example.com": results[0].message_id,
        "modtager2@example.com": results[2].message_id,
    }
    assert emulator.requests[0].body[0]["MessageStream"] == "newsletters"


def test_emulator_message_error_fault_inside_a_200(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject(
        "message_error",
        provider="postmark",
        address="modtager2@example.com",
        code=300,
        message="Invalid 'To' address: 'modtager2@example.com'.",
    )
    results = PostmarkProvider(http, emulator.url, server_token=TOKEN).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.REJECTED]
    assert results[2].suppress
    assert emulator.count_by_address() == {"modtager0@example.com": 1, "modtager1@example.com": 1}


def test_tags_beyond_the_issue_travel_in_metadata() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.extend(json.loads(request.content))
        return ok_for_all(request)

    batch = make_batch(1, tags=("2019-12-20-tak-for-et-godt-2019", "erhverv", "jul"))
    mocked(handler).send_batch(batch)
    assert seen[0]["Tag"] == "2019-12-20-tak-for-et-godt-2019"
    assert seen[0]["Metadata"]["nl_tags"] == "erhverv,jul"  # type: ignore[index]
    with pytest.raises(ProviderPermanent, match="80 characters"):
        mocked(handler).send_batch(make_batch(1, tags=tuple(f"tag-number-{i}" for i in range(10))))
