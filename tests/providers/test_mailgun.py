"""Mailgun adapter: one form per batch, recipient-variables merged as we would, bad addresses isolated."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from urllib.parse import parse_qsl

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.personalize import merge
from newsletter.providers.base import Outcome
from newsletter.providers.mailgun import EU_BASE_URL, MailgunProvider
from tests.emulator import Emulator
from tests.providers.conftest import EMULATOR_KEYS, LIST_HEADERS, make_batch, make_content, make_recipient

KEY = EMULATOR_KEYS["mailgun"]
BAD_ADDRESS = {"message": "'to' parameter is not a valid address. please check documentation"}


def mocked(
    handler: Callable[[httpx.Request], httpx.Response], base_url: str = EU_BASE_URL
) -> MailgunProvider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return MailgunProvider(client, base_url, api_key=KEY, domain="mg.balk.dk")


def queued(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "<20260101.1@mg.balk.dk>", "message": "Queued. Thank you."})


def form_of(request: httpx.Request) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in parse_qsl(request.content.decode(), keep_blank_values=True):
        fields.setdefault(name, []).append(value)
    return fields


def expand(template: str, variables: dict[str, str]) -> str:
    """What Mailgun does with %recipient.KEY% for one recipient."""
    return re.sub(r"%recipient\.([^%]+)%", lambda m: variables[m.group(1)], template)


def test_request_goes_to_the_eu_host_with_basic_auth() -> None:
    seen: list[httpx.Request] = []
    results = mocked(lambda r: seen.append(r) or queued(r)).send_batch(make_batch(2))  # type: ignore[func-returns-value]
    request = seen[0]
    assert str(request.url) == "https://api.eu.mailgun.net/v3/mg.balk.dk/messages"
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(f"api:{KEY}".encode()).decode()
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert [r.message_id for r in results] == ["20260101.1@mg.balk.dk"] * 2


def test_recipient_variables_reproduce_our_merge_headers_and_metadata() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2)
    tricky = make_recipient(9, name='Ib & "Co" <Ltd> %recipient.name_text%')
    batch = Batch(batch.content, [*batch.recipients, tricky], batch.idempotency_key)
    mocked(lambda r: seen.append(r) or queued(r)).send_batch(batch)  # type: ignore[func-returns-value]
    form = form_of(seen[0])

    assert form["from"] == ["BusinessBallerup <nyhedsbrev@example.org>"]
    assert form["to"][2] == '"Ib & \\"Co\\" <Ltd> %recipient.name_text%" <modtager9@example.com>'
    assert form["subject"] == ["Nyhedsbrev: Tak for et godt år — æøå"]
    assert form["h:Reply-To"] == ["jrau@balk.dk"]
    assert form["o:tag"] == ["2019-12-20-tak-for-et-godt-2019"]
    variables = json.loads(form["recipient-variables"][0])
    assert set(variables) == {r.email for r in batch.recipients}
    for recipient in batch.recipients:
        mine = variables[recipient.email]
        html, text = merge(batch.content.html, batch.content.text, recipient.values)
        assert expand(form["html"][0], mine) == html
        assert expand(form["text"][0], mine) == text
        for header, value in recipient.headers.items():
            assert expand(form[f"h:{header}"][0], mine) == value
        assert expand(form["h:List-Id"][0], mine) == LIST_HEADERS["List-Id"]
        assert expand(form["h:Feedback-ID"][0], mine) == LIST_HEADERS["Feedback-ID"]
        for name, value in recipient.metadata.items():
            assert expand(form[f"v:{name}"][0], mine) == value


def test_syntactically_bad_address_is_found_and_the_rest_sent(emulator: Emulator, http: httpx.Client) -> None:
    batch = make_batch(3)
    broken = make_recipient(7, email="jens@@example")
    batch = Batch(batch.content, [batch.recipients[0], broken, *batch.recipients[1:]], batch.idempotency_key)
    provider = MailgunProvider(http, emulator.url, api_key=KEY, domain="mg.example.org")
    results = provider.send_batch(batch)
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
    ]
    assert results[1].suppress and "jens@@example" in results[1].reason
    assert emulator.count_by_address() == {f"modtager{i}@example.com": 1 for i in range(3)}
    assert len(emulator.requests) == 2  # the refused one, then the rest


def test_address_only_mailgun_refuses_is_isolated_by_halving(emulator: Emulator, http: httpx.Client) -> None:
    emulator.mark_invalid("modtager5@example.com")
    provider = MailgunProvider(http, emulator.url, api_key=KEY, domain="mg.example.org")
    results = provider.send_batch(make_batch(8))
    assert [r.outcome for r in results].count(Outcome.ACCEPTED) == 7
    assert results[5].outcome is Outcome.REJECTED and results[5].suppress
    assert "not a valid address" in results[5].reason
    counts = emulator.count_by_address()
    assert counts == {f"modtager{i}@example.com": 1 for i in range(8) if i != 5}


def test_failure_after_part_of_a_split_was_accepted_is_reported_per_recipient() -> None:
    answers = iter(
        [
            httpx.Response(400, json=BAD_ADDRESS),  # all four: refused
            queued(httpx.Request("POST", "/")),  # first half: accepted
            httpx.Response(429, headers={"Retry-After": "3"}),  # second half: rate limited
        ]
    )
    results = mocked(lambda request: next(answers)).send_batch(make_batch(4))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.RETRY, Outcome.RETRY]
    assert results[2].retry_after == 3.0


def test_failure_before_anything_was_accepted_raises_for_the_whole_batch() -> None:
    answers = iter([httpx.Response(400, json=BAD_ADDRESS), httpx.Response(429)])
    with pytest.raises(ProviderRetryable):
        mocked(lambda request: next(answers)).send_batch(make_batch(4))


def test_other_400_is_permanent_with_mailguns_message() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"message": "from parameter is missing"})

    with pytest.raises(ProviderPermanent, match="from parameter is missing"):
        mocked(handler).send_batch(make_batch(2))


def test_unknown_domain_404_is_permanent() -> None:
    with pytest.raises(ProviderPermanent, match="HTTP 404: Domain not found"):
        mocked(lambda r: httpx.Response(404, json={"message": "Domain not found: mg.balk.dk"})).send_batch(
            make_batch(1)
        )


def test_more_than_three_tags_is_refused() -> None:
    with pytest.raises(ProviderPermanent, match="at most 3 tags"):
        mocked(queued).send_batch(make_batch(1, tags=("a", "b", "c")))


def test_the_same_address_twice_in_a_batch_is_a_programming_error() -> None:
    recipient = make_recipient(1)
    # Refused while building the request: provably nothing sent, so permanent (never "unknown").
    with pytest.raises(ProviderPermanent, match=r"nothing was sent.*appears twice"):
        mocked(queued).send_batch(Batch(make_content(), [recipient, recipient]))


def test_against_the_emulator(emulator: Emulator, http: httpx.Client) -> None:
    provider = MailgunProvider(http, emulator.url, api_key=KEY, domain="mg.example.org")
    results = provider.send_batch(make_batch(20))
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert emulator.accepted_count("mailgun") == 20
    assert emulator.requests[0].path == "/v3/mg.example.org/messages"


def test_a_200_without_a_message_id_is_ambiguous_not_success() -> None:
    page = httpx.Response(200, text="Mailgun Magnificent API")
    with pytest.raises(ProviderAmbiguous, match=r"no message id.*may have been delivered.*base_url"):
        mocked(lambda request: page).send_batch(make_batch(2))


def test_base_url_copied_with_v3_from_the_docs_still_works() -> None:
    seen: list[httpx.Request] = []
    provider = mocked(lambda r: seen.append(r) or queued(r), base_url="https://api.eu.mailgun.net/v3/")  # type: ignore[func-returns-value]
    provider.send_batch(make_batch(1))
    assert str(seen[0].url) == "https://api.eu.mailgun.net/v3/mg.balk.dk/messages"
