"""Brevo adapter: one rendered message per request, each answer mapped to its own recipient."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl

import httpx
import pytest
from jsonschema import Draft4Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from newsletter.errors import ConfigError, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.personalize import merge
from newsletter.providers.base import Outcome
from newsletter.providers.brevo import BrevoProvider, message_key
from newsletter.providers.registry import make_provider
from tests.emulator import Emulator
from tests.providers.conftest import (
    EMULATOR_KEYS,
    KEYS,
    LIST_HEADERS,
    make_batch,
    make_content,
    make_recipient,
    settings_for,
)

KEY = EMULATOR_KEYS["brevo"]
Handler = Callable[[httpx.Request], httpx.Response]


def mocked(handler: Handler) -> BrevoProvider:
    return BrevoProvider(
        httpx.Client(transport=httpx.MockTransport(handler)), "https://api.brevo.com", api_key=KEY
    )


def ok(request: httpx.Request) -> httpx.Response:
    to = json.loads(request.content)["to"][0]["email"]
    return httpx.Response(201, json={"messageId": f"<{to}@smtp-relay.mailin.fr>"})


def recording(handler: Handler, seen: list[httpx.Request]) -> Handler:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return record


def test_each_recipient_gets_their_own_message_headers_and_correlation() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2, key="send-7-batch-3", tags=("erhverv",))
    results = mocked(recording(ok, seen)).send_batch(batch)
    assert [str(r.url) for r in seen] == ["https://api.brevo.com/v3/smtp/email"] * 2
    assert seen[0].headers["api-key"] == KEY
    message = json.loads(seen[1].content)
    html, text = merge(batch.content.html, batch.content.text, batch.recipients[1].values)
    assert message["to"] == [{"email": "modtager1@example.com", "name": "Jens Hansen 1"}]
    assert message["sender"] == {"email": "nyhedsbrev@example.org", "name": "BusinessBallerup"}
    assert (message["htmlContent"], message["textContent"]) == (html, text)
    assert "token1" in message["htmlContent"] and "token0" not in message["htmlContent"]
    assert message["replyTo"] == {"email": "jrau@balk.dk"}
    assert message["tags"] == ["2019-12-20-tak-for-et-godt-2019", "erhverv"]
    headers = message["headers"]
    assert headers["List-Unsubscribe"].startswith("<https://nyhedsbrev.example.org/u/token1>")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"] == LIST_HEADERS["List-Id"]
    assert headers["Feedback-ID"] == LIST_HEADERS["Feedback-ID"]
    assert dict(parse_qsl(headers["X-Mailin-custom"])) == {
        "nl_issue": "2019-12-20-tak-for-et-godt-2019",
        "nl_subscriber": "1001",
        "nl_delivery": "5001",
    }
    assert headers["idempotencyKey"] == message_key("send-7-batch-3", batch.recipients[1], 1)
    assert [r.message_id for r in results] == [
        "<modtager0@example.com@smtp-relay.mailin.fr>",
        "<modtager1@example.com@smtp-relay.mailin.fr>",
    ]


def test_the_idempotency_key_is_a_uuid_stable_across_retries() -> None:
    recipient = make_recipient(4)
    first = message_key("send-1-batch-1", recipient, 0)
    assert first == message_key("send-1-batch-1", recipient, 3)  # position does not matter with a delivery id
    assert first != message_key("send-1-batch-2", recipient, 0)
    assert len(first) == 36 and first.count("-") == 4


def test_a_rate_limit_before_anything_went_out_retries_the_whole_batch_after_brevos_reset() -> None:
    def limited(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            429, json={"message": "Too many requests"}, headers={"x-sib-ratelimit-reset": "45"}
        )

    with pytest.raises(ProviderRetryable) as caught:
        mocked(limited).send_batch(make_batch(3))
    assert caught.value.retry_after == 45


def test_a_rate_limit_midway_keeps_the_accepted_and_retries_the_rest() -> None:
    answers = iter([ok, ok, lambda r: httpx.Response(429, headers={"x-sib-ratelimit-reset": "7"})])
    results = mocked(lambda r: next(answers)(r)).send_batch(make_batch(4))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 2 + [Outcome.RETRY] * 2
    assert results[3].retry_after == 7


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_server_error_makes_only_that_message_unknown(status: int) -> None:
    answers = iter([ok, lambda r: httpx.Response(status, text="<html>gateway</html>")])
    results = mocked(lambda r: next(answers)(r)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.UNKNOWN, Outcome.RETRY]
    assert "may have" in results[1].reason or "does not say" in results[1].reason


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, json={}),
        httpx.Response(201, text="OK"),
        httpx.Response(200, json={"messageId": "<x@y>"}),
        httpx.Response(201, json={"messageIds": ["<a@b>", "<c@d>"]}),
    ],
    ids=["no-id", "not-json", "200", "two-ids"],
)
def test_an_answer_we_cannot_read_is_unknown_never_not_sent(answer: httpx.Response) -> None:
    results = mocked(lambda r: answer).send_batch(make_batch(2))
    assert results[0].outcome is Outcome.UNKNOWN
    assert results[1].outcome is Outcome.RETRY  # never posted


def test_one_id_in_message_ids_is_read() -> None:
    results = mocked(lambda r: httpx.Response(201, json={"messageIds": ["<a@b>"]})).send_batch(make_batch(1))
    assert results[0].message_id == "<a@b>"


def test_a_refused_key_names_the_variable_and_never_shows_the_key() -> None:
    with pytest.raises(ProviderPermanent) as caught:
        mocked(
            lambda r: httpx.Response(401, json={"code": "unauthorized", "message": "Key not found"})
        ).send_batch(make_batch(2))
    assert "NEWSLETTER_BREVO_API_KEY" in str(caught.value) and KEY not in str(caught.value)


def test_a_validation_refusal_of_the_content_sends_nothing() -> None:
    answer = httpx.Response(
        400, json={"code": "invalid_parameter", "message": "sender is missing or not valid"}
    )
    with pytest.raises(ProviderPermanent, match="sender is missing"):
        mocked(lambda r: answer).send_batch(make_batch(2))


def test_an_address_brevo_refuses_is_rejected_and_the_others_go(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.mark_invalid("modtager1@example.com")
    results = BrevoProvider(http, emulator.url, api_key=KEY).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert results[1].suppress and "not valid in to" in results[1].reason
    assert emulator.count_by_address() == {"modtager0@example.com": 1, "modtager2@example.com": 1}


def test_an_address_that_is_not_one_is_rejected_without_posting() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2)
    batch = Batch(batch.content, [make_recipient(0, email="ikke en adresse"), batch.recipients[1]], "k")
    results = mocked(recording(ok, seen)).send_batch(batch)
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.ACCEPTED]
    assert results[0].suppress and len(seen) == 1


def test_sends_through_the_emulator_once_each(emulator: Emulator, provider_keys: dict[str, str]) -> None:
    provider = make_provider(settings_for("brevo", emulator.url).provider)
    try:
        results = provider.send_batch(make_batch(5, key="send-2-batch-1"))
    finally:
        provider.close()
    assert all(r.outcome is Outcome.ACCEPTED and r.message_id for r in results)
    assert emulator.count_by_address() == {f"modtager{i}@example.com": 1 for i in range(5)}
    assert {a.message_id for a in emulator.accepted} == {r.message_id for r in results}


def test_a_repeat_within_brevos_window_is_refused_and_reported_unknown(
    emulator: Emulator, http: httpx.Client
) -> None:
    provider = BrevoProvider(http, emulator.url, api_key=KEY)
    emulator.inject("drop_after", provider="brevo")
    first = provider.send_batch(make_batch(2, key="send-3-batch-1"))
    assert [r.outcome for r in first] == [Outcome.UNKNOWN, Outcome.RETRY]
    # A careless retry of the whole batch: Brevo refuses the repeated key, nobody gets two.
    again = provider.send_batch(make_batch(2, key="send-3-batch-1"))
    assert [r.outcome for r in again] == [Outcome.UNKNOWN, Outcome.ACCEPTED]
    assert "most likely sent" in again[0].reason
    assert set(emulator.count_by_address().values()) == {1}


@pytest.mark.parametrize("fault", ["server_error", "processed_then_error", "drop_after", "unreadable_ok"])
def test_emulated_faults_never_lose_track_of_a_message(
    emulator: Emulator, http: httpx.Client, fault: str
) -> None:
    emulator.inject(fault, provider="brevo", status=502)
    results = BrevoProvider(http, emulator.url, api_key=KEY).send_batch(make_batch(3, key=None))
    assert results[0].outcome is Outcome.UNKNOWN
    assert [r.outcome for r in results[1:]] == [Outcome.RETRY, Outcome.RETRY]
    assert emulator.accepted_count("brevo") <= 1


def test_emulated_rate_limit_and_dropped_connection_before_sending_are_retryable(
    emulator: Emulator, http: httpx.Client
) -> None:
    provider = BrevoProvider(http, emulator.url, api_key=KEY)
    emulator.inject("rate_limit", provider="brevo", retry_after=3)
    with pytest.raises(ProviderRetryable) as caught:
        provider.send_batch(make_batch(2))
    assert caught.value.retry_after == 3
    assert emulator.accepted_count() == 0


def test_the_emulator_refuses_a_wrong_key(emulator: Emulator, http: httpx.Client) -> None:
    with pytest.raises(ProviderPermanent, match="NEWSLETTER_BREVO_API_KEY"):
        BrevoProvider(http, emulator.url, api_key="wrong").send_batch(make_batch(1))


def test_make_provider_needs_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_BREVO_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="NEWSLETTER_BREVO_API_KEY is not set"):
        make_provider(settings_for("brevo").provider)
    monkeypatch.setenv("NEWSLETTER_BREVO_API_KEY", KEYS["NEWSLETTER_BREVO_API_KEY"])
    provider = make_provider(settings_for("brevo").provider)
    assert isinstance(provider, BrevoProvider) and provider.base_url == "https://api.brevo.com"
    assert KEYS["NEWSLETTER_BREVO_API_KEY"] not in repr(provider)


SCHEMA = Path(__file__).parent / "specs" / "brevo-send-smtp-email.schema.json"


def brevo_validator() -> Draft4Validator:
    return Draft4Validator(json.loads(SCHEMA.read_text(encoding="utf-8")), format_checker=FormatChecker())


@pytest.mark.parametrize("tags", [(), ("erhverv", "december")])
def test_every_request_body_matches_brevos_schema(tags: tuple[str, ...]) -> None:
    provider = mocked(ok)
    bare = Batch(make_content(reply_to="", issue="", from_name=""), [make_recipient(3, name="")])
    for batch in (make_batch(25, tags=tags), bare, make_batch(2, key=None)):
        for message in provider.build_payload(batch):
            brevo_validator().validate(message)


def test_the_schema_catches_what_brevo_would_not_accept() -> None:
    good = mocked(ok).build_payload(make_batch(1))[0]
    with pytest.raises(
        ValidationError
    ):  # a version cannot carry headers: why each message is its own request
        brevo_validator().validate({**good, "messageVersions": [{"to": good["to"], "headers": {"A": "b"}}]})
    with pytest.raises(ValidationError):
        brevo_validator().validate({**good, "replyTo": "jrau@balk.dk"})
    with pytest.raises(ValidationError):
        brevo_validator().validate({**good, "tags": [{"name": "nl_issue"}]})
