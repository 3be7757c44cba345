"""Resend adapter: rendered emails, tags for correlation, and the Idempotency-Key that makes retries safe."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.personalize import merge
from newsletter.providers._shared import tag_value
from newsletter.providers.base import Outcome
from newsletter.providers.resend import ResendProvider, idempotency_key
from tests.emulator import Emulator
from tests.providers.conftest import EMULATOR_KEYS, LIST_HEADERS, make_batch, make_recipient

KEY = EMULATOR_KEYS["resend"]


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> ResendProvider:
    return ResendProvider(
        httpx.Client(transport=httpx.MockTransport(handler)), "https://api.resend.com", api_key=KEY
    )


def ok(request: httpx.Request) -> httpx.Response:
    count = len(json.loads(request.content))
    return httpx.Response(200, json={"data": [{"id": f"re-{i}"} for i in range(count)]})


def test_payload_headers_and_idempotency_key() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2, key="send-7-batch-3")
    results = mocked(lambda r: seen.append(r) or ok(r)).send_batch(batch)  # type: ignore[func-returns-value]
    request = seen[0]
    assert str(request.url) == "https://api.resend.com/emails/batch"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Idempotency-Key"] == "send-7-batch-3"
    emails = json.loads(request.content)
    html, text = merge(batch.content.html, batch.content.text, batch.recipients[0].values)
    assert emails[0] == {
        "from": "BusinessBallerup <nyhedsbrev@example.org>",
        "to": ["Jens Hansen 0 <modtager0@example.com>"],
        "subject": "Nyhedsbrev: Tak for et godt år — æøå",
        "html": html,
        "text": text,
        "reply_to": "jrau@balk.dk",
        "headers": {
            "List-Unsubscribe": "<https://nyhedsbrev.example.org/u/token0>, "
            "<mailto:afmeld@example.org?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": LIST_HEADERS["List-Id"],
            "Feedback-ID": LIST_HEADERS["Feedback-ID"],
        },
        "tags": [
            {"name": "nl_issue", "value": "2019-12-20-tak-for-et-godt-2019"},
            {"name": "nl_subscriber", "value": "1000"},
            {"name": "nl_delivery", "value": "5000"},
        ],
    }
    assert [r.message_id for r in results] == ["re-0", "re-1"]


def test_tag_values_are_made_acceptable_to_resend() -> None:
    assert tag_value("2019-12-20-tak-for-et-godt-år") == "2019-12-20-tak-for-et-godt-_r"
    assert tag_value("a b.c") == "a_b_c"


def test_long_keys_are_hashed_to_resends_limit() -> None:
    assert len(idempotency_key("k" * 300)) <= 256
    assert idempotency_key("k" * 300) == idempotency_key("k" * 300)
    assert idempotency_key("base", [2]) != idempotency_key("base", [3])


def test_names_resend_cannot_parse_are_simplified() -> None:
    seen: list[list[dict[str, object]]] = []
    recipient = make_recipient(1, name='Hansen, "Jens" <CEO>')
    batch = Batch(make_batch(1).content, [recipient], "k")
    mocked(lambda r: seen.append(json.loads(r.content)) or ok(r)).send_batch(batch)  # type: ignore[func-returns-value]
    assert seen[0][0]["to"] == ["Hansen Jens CEO <modtager1@example.com>"]


def test_replaying_a_batch_returns_the_first_answer_and_sends_nothing_new(
    emulator: Emulator, http: httpx.Client
) -> None:
    provider = ResendProvider(http, emulator.url, api_key=KEY)
    first = provider.send_batch(make_batch(5, key="send-1-batch-9"))
    again = provider.send_batch(make_batch(5, key="send-1-batch-9"))
    assert [r.message_id for r in again] == [r.message_id for r in first]
    assert emulator.accepted_count("resend") == 5
    assert all(a.idempotency_key == "send-1-batch-9" for a in emulator.accepted)


def test_dropped_answer_then_retry_with_the_same_key_sends_once(
    emulator: Emulator, http: httpx.Client
) -> None:
    provider = ResendProvider(http, emulator.url, api_key=KEY)
    emulator.inject("drop_after", provider="resend")
    with pytest.raises(ProviderAmbiguous):
        provider.send_batch(make_batch(4, key="send-1-batch-1"))
    assert emulator.accepted_count("resend") == 4  # it did go out
    results = provider.send_batch(make_batch(4, key="send-1-batch-1"))
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert set(emulator.count_by_address().values()) == {1}


def test_same_key_different_batch_is_a_clear_permanent_error(emulator: Emulator, http: httpx.Client) -> None:
    provider = ResendProvider(http, emulator.url, api_key=KEY)
    provider.send_batch(make_batch(2, key="send-1-batch-1"))
    with pytest.raises(ProviderPermanent) as caught:
        provider.send_batch(make_batch(3, key="send-1-batch-1"))
    message = str(caught.value)
    assert "409" in message and "Idempotency-Key send-1-batch-1" in message and "different batch" in message
    assert emulator.accepted_count("resend") == 2


def test_injected_idempotency_conflict(emulator: Emulator, http: httpx.Client) -> None:
    emulator.inject("idempotency_conflict", provider="resend")
    with pytest.raises(ProviderPermanent, match="invalid_idempotent_request"):
        ResendProvider(http, emulator.url, api_key=KEY).send_batch(make_batch(2))
    assert emulator.accepted_count() == 0


def test_concurrent_request_with_the_same_key_is_retryable() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            409, json={"statusCode": 409, "name": "concurrent_idempotent_requests", "message": "…"}
        )

    with pytest.raises(ProviderRetryable, match="still being processed"):
        mocked(handler).send_batch(make_batch(1))


def test_invalid_address_is_rejected_and_the_rest_sent_under_a_derived_key(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.mark_invalid("modtager2@example.com")
    provider = ResendProvider(http, emulator.url, api_key=KEY)
    results = provider.send_batch(make_batch(4, key="send-1-batch-5"))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2 + [Outcome.REJECTED, Outcome.ACCEPTED]
    assert results[2].suppress
    assert emulator.count_by_address() == {f"modtager{i}@example.com": 1 for i in (0, 1, 3)}
    keys = {a.idempotency_key for a in emulator.accepted}
    assert keys and all(str(k).startswith("send-1-batch-5/minus-") for k in keys)
    # Sending the same batch again (a resume) reuses the derived keys: nothing new goes out.
    provider.send_batch(make_batch(4, key="send-1-batch-5"))
    assert emulator.count_by_address() == {f"modtager{i}@example.com": 1 for i in (0, 1, 3)}


def test_batch_over_100_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 100"):
        mocked(ok).send_batch(make_batch(101))


def test_plain_tags_become_numbered_name_value_tags() -> None:
    seen: list[list[dict[str, Any]]] = []
    batch = make_batch(1, tags=("2019-12-20-tak-for-et-godt-2019", "erhverv", "jul og nytår"))
    mocked(lambda r: seen.append(json.loads(r.content)) or ok(r)).send_batch(batch)  # type: ignore[func-returns-value]
    tags: list[dict[str, str]] = seen[0][0]["tags"]
    assert {"name": "nl_tag_1", "value": "erhverv"} in tags
    assert {"name": "nl_tag_2", "value": "jul_og_nyt_r"} in tags
    assert sum(1 for t in tags if t["name"] == "nl_issue") == 1


def test_an_unreadable_200_is_ambiguous_not_success() -> None:
    with pytest.raises(ProviderAmbiguous, match="may have been delivered"):
        mocked(lambda request: httpx.Response(200, text="<html>proxy</html>")).send_batch(make_batch(2))
