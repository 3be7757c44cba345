"""SendGrid adapter: content sent once, merged by SendGrid exactly as we would merge it."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from newsletter.errors import ProviderPermanent
from newsletter.message import Recipient
from newsletter.personalize import merge
from newsletter.providers.base import Outcome
from newsletter.providers.sendgrid import SendGridProvider
from tests.emulator import Emulator
from tests.providers.conftest import EMULATOR_KEYS, LIST_HEADERS, make_batch, make_recipient

KEY = EMULATOR_KEYS["sendgrid"]


def mocked(handler: Callable[[httpx.Request], httpx.Response]) -> SendGridProvider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return SendGridProvider(client, "https://api.sendgrid.com", api_key=KEY)


def accepted(request: httpx.Request) -> httpx.Response:
    return httpx.Response(202, headers={"X-Message-Id": "abc123"})


def substitute(value: str, substitutions: dict[str, str]) -> str:
    """What SendGrid does with substitution tags: each tag replaced by its value, in one pass."""
    pattern = re.compile("|".join(re.escape(tag) for tag in substitutions))
    return pattern.sub(lambda match: substitutions[match.group(0)], value)


def headers_of(payload: dict[str, Any], index: int) -> dict[str, str]:
    """The headers SendGrid gives personalization ``index``: the message's, then its own over them."""
    return {**payload.get("headers", {}), **payload["personalizations"][index].get("headers", {})}


def test_payload_shape_and_headers() -> None:
    seen: list[httpx.Request] = []
    mocked(lambda r: seen.append(r) or accepted(r)).send_batch(make_batch(2))  # type: ignore[func-returns-value]
    request = seen[0]
    assert str(request.url) == "https://api.sendgrid.com/v3/mail/send"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    payload = json.loads(request.content)
    assert payload["from"] == {"email": "nyhedsbrev@example.org", "name": "BusinessBallerup"}
    assert payload["reply_to"] == {"email": "jrau@balk.dk"}
    assert payload["subject"] == "Nyhedsbrev: Tak for et godt år — æøå"
    assert [c["type"] for c in payload["content"]] == ["text/plain", "text/html"]
    assert payload["categories"] == ["2019-12-20-tak-for-et-godt-2019"]
    first = payload["personalizations"][1]
    assert first["to"] == [{"email": "modtager1@example.com", "name": "Jens Hansen 1"}]
    headers = headers_of(payload, 1)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Unsubscribe"].startswith("<https://nyhedsbrev.example.org/u/token1>")
    assert headers["List-Id"] == LIST_HEADERS["List-Id"]
    assert headers["Feedback-ID"] == LIST_HEADERS["Feedback-ID"]
    # What everyone shares goes once, in the message; each recipient's own link stays theirs.
    assert set(first["headers"]) == {"List-Unsubscribe"}
    assert headers_of(payload, 0)["List-Unsubscribe"].startswith("<https://nyhedsbrev.example.org/u/token0>")
    assert first["custom_args"] == {
        "nl_issue": "2019-12-20-tak-for-et-godt-2019",
        "nl_subscriber": "1001",
        "nl_delivery": "5001",
    }
    assert "%%nl:" not in json.dumps(payload)


def test_sendgrid_substitution_gives_what_our_merge_gives() -> None:
    seen: list[dict[str, Any]] = []
    batch = make_batch(1)
    tricky = make_recipient(9, name='Ib & "Co" <Ltd> -nl_name_text-')
    batch = type(batch)(batch.content, [*batch.recipients, tricky], batch.idempotency_key)
    mocked(lambda r: seen.append(json.loads(r.content)) or accepted(r)).send_batch(batch)  # type: ignore[func-returns-value]
    payload = seen[0]
    text_template, html_template = (c["value"] for c in payload["content"])
    for personalization, recipient in zip(payload["personalizations"], batch.recipients, strict=True):
        html, text = merge(batch.content.html, batch.content.text, recipient.values)
        assert substitute(html_template, personalization["substitutions"]) == html
        assert substitute(text_template, personalization["substitutions"]) == text


def test_per_recipient_message_ids_from_x_message_id() -> None:
    results = mocked(accepted).send_batch(make_batch(3))
    assert [r.message_id for r in results] == ["abc123.5000", "abc123.5001", "abc123.5002"]
    assert all(r.outcome is Outcome.ACCEPTED for r in results)


def test_invalid_address_is_rejected_and_the_rest_sent_once(emulator: Emulator, http: httpx.Client) -> None:
    emulator.mark_invalid("modtager1@example.com")
    results = SendGridProvider(http, emulator.url, api_key=KEY).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert results[1].suppress
    assert "personalizations.1.to.0.email" in results[1].reason
    assert emulator.count_by_address() == {"modtager0@example.com": 1, "modtager2@example.com": 1}
    assert len(emulator.requests) == 2
    request_id = results[0].message_id.split(".")[0]  # type: ignore[union-attr]
    assert {a.message_id.split(".")[0] for a in emulator.accepted} == {request_id}


def test_unattributable_400_is_permanent_with_sendgrids_words() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            400,
            json={
                "errors": [
                    {"message": "The from address does not match a verified Sender Identity", "field": "from"}
                ]
            },
        )

    with pytest.raises(ProviderPermanent, match="verified Sender Identity"):
        mocked(handler).send_batch(make_batch(2))


def test_too_many_categories_is_refused() -> None:
    batch = make_batch(1, tags=tuple(f"t{i}" for i in range(10)))
    with pytest.raises(ProviderPermanent, match="at most 10 categories"):
        mocked(accepted).send_batch(batch)


def test_batch_over_1000_is_refused() -> None:
    with pytest.raises(ValueError, match="at most 1000"):
        mocked(accepted).send_batch(make_batch(1001))


def test_against_the_emulator(emulator: Emulator, http: httpx.Client) -> None:
    results = SendGridProvider(http, emulator.url, api_key=KEY).send_batch(make_batch(50))
    assert all(r.outcome is Outcome.ACCEPTED for r in results)
    assert emulator.accepted_count("sendgrid") == 50
    assert len(emulator.requests) == 1


def test_errors_reported_over_several_rounds_are_all_attributed() -> None:
    """Each refused request sent nothing, so recipients are taken out until the rest is accepted."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        payload = json.loads(request.content)
        bodies.append(payload)
        emails = [p["to"][0]["email"] for p in payload["personalizations"]]
        for position, address in enumerate(emails):
            if address in ("modtager1@example.com", "modtager3@example.com"):
                field = f"personalizations.{position}.to.0.email"
                return httpx.Response(
                    400, json={"errors": [{"message": "Does not contain a valid address.", "field": field}]}
                )
        return accepted(request)

    results = mocked(handler).send_batch(make_batch(5))
    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.ACCEPTED,
    ]
    assert results[1].suppress and results[3].suppress
    assert len(bodies) == 3
    assert [p["to"][0]["email"] for p in bodies[-1]["personalizations"]] == [
        "modtager0@example.com",
        "modtager2@example.com",
        "modtager4@example.com",
    ]
    assert [r.message_id for r in results if r.outcome is Outcome.ACCEPTED] == [
        "abc123.5000",
        "abc123.5002",
        "abc123.5004",
    ]


def test_base_url_with_v3_suffix_is_accepted() -> None:
    provider = SendGridProvider(
        httpx.Client(transport=httpx.MockTransport(accepted)), "https://api.eu.sendgrid.com/v3", api_key=KEY
    )
    assert provider.base_url == "https://api.eu.sendgrid.com"


def test_personalizations_written_field_by_field_are_what_json_dumps_writes() -> None:
    # Each personalization is assembled as JSON text rather than through json.dumps; the bytes must
    # be the ones json.dumps (compact, non-ASCII kept, as httpx's json= writes) gives for the same
    # dictionaries, whatever a name or a value holds.
    awkward = [
        make_recipient(1),
        make_recipient(2, name='Søren "Sønne" Ærø\\ </script> \u2028 😀 100%s %%'),
        make_recipient(3, email="line\nbreak@example.com", name=""),
        make_recipient(4, name="Tab\there & <b>"),
    ]
    awkward[3].values["unsubscribe_url"] = "https://nyhedsbrev.example.org/u/a?b=1&c='2'"
    batch = make_batch(4)
    batch = type(batch)(batch.content, awkward, batch.idempotency_key)
    body = mocked(accepted).request_body(batch)
    payload = json.loads(body)
    tags = list(payload["personalizations"][0]["substitutions"])
    # Names and links that HTML escaping changes for someone get a tag per part; the web
    # address, the same for everyone, is written into the content.
    assert sorted(tags) == [
        "-nl_name_html-",
        "-nl_name_text-",
        "-nl_unsubscribe_url_html-",
        "-nl_unsubscribe_url_text-",
    ]
    assert_written_as_json_dumps_writes(body, awkward, tags)


def test_a_value_holding_what_joins_the_values_is_written_as_it_is() -> None:
    # The values of a request are escaped in one go, joined by a NUL character (escaped \u0000).
    # A value that holds a NUL, or the six characters of its escape, must not split wrongly.
    awkward = [
        make_recipient(1, name="NUL\x00here"),
        make_recipient(2, name="backslash-u \\u0000 text"),
        make_recipient(3, name="plain"),
    ]
    batch = make_batch(3)
    batch = type(batch)(batch.content, awkward, batch.idempotency_key)
    body = mocked(accepted).request_body(batch)
    tags = list(json.loads(body)["personalizations"][0]["substitutions"])
    assert_written_as_json_dumps_writes(body, awkward, tags)
    assert [p["to"][0]["name"] for p in json.loads(body)["personalizations"]] == [
        "NUL\x00here",
        "backslash-u \\u0000 text",
        "plain",
    ]


def assert_written_as_json_dumps_writes(body: bytes, recipients: list[Recipient], tags: list[str]) -> None:
    payload = json.loads(body)
    shared = payload.get("headers", {})
    expected = []
    for recipient in recipients:
        to = {"email": recipient.email, **({"name": recipient.name} if recipient.name else {})}
        substitutions = {}
        for tag in tags:
            name, part = tag.removeprefix("-nl_").removesuffix("-").rsplit("_", 1)
            value = recipient.values.get(name, "")
            substitutions[tag] = html.escape(value, quote=True) if part == "html" else value
        own = {name: value for name, value in recipient.headers.items() if name not in shared}
        expected.append(
            {
                "to": [to],
                "substitutions": substitutions,
                **({"headers": own} if own else {}),
                "custom_args": dict(recipient.metadata),
            }
        )
        assert {**shared, **own} == dict(recipient.headers)
    assert payload["personalizations"] == expected
    written = json.dumps(expected, ensure_ascii=False, separators=(",", ":")).encode()
    assert b'"personalizations":' + written in body


def test_headers_go_to_the_message_only_when_every_recipient_has_the_same() -> None:
    people = [make_recipient(1), make_recipient(2), make_recipient(3)]
    people[1].headers["X-Campaign"] = "b"  # one recipient only
    people[2].headers["Feedback-ID"] = "another:erhverv:example-org"  # one differs
    batch = make_batch(3)
    payload = mocked(accepted).build_payload(type(batch)(batch.content, people, batch.idempotency_key))
    assert set(payload["headers"]) == {"List-Unsubscribe-Post", "List-Id"}
    for index, recipient in enumerate(people):
        assert headers_of(payload, index) == dict(recipient.headers)


def test_a_value_everyone_shares_is_written_into_the_content_and_a_plain_one_is_one_tag() -> None:
    seen: list[dict[str, Any]] = []
    mocked(lambda r: seen.append(json.loads(r.content)) or accepted(r)).send_batch(make_batch(3))  # type: ignore[func-returns-value]
    payload = seen[0]
    text_part, html_part = (c["value"] for c in payload["content"])
    web = "https://nyhedsbrev.example.org/issues/2019-12-20-tak-for-et-godt-2019"
    assert web in html_part
    substitutions = payload["personalizations"][2]["substitutions"]
    assert "-nl_web_url_html-" not in json.dumps(payload) and "-nl_web_url_text-" not in json.dumps(payload)
    # An unsubscribe link reads the same escaped or not: one tag serves both parts.
    assert substitutions["-nl_unsubscribe_url_both-"] == "https://nyhedsbrev.example.org/u/token2"
    assert "-nl_unsubscribe_url_both-" in html_part and "-nl_unsubscribe_url_both-" in text_part
    # With one recipient, everything is theirs alone to share: the content is merged as ours is.
    one: list[dict[str, Any]] = []
    batch = make_batch(1)
    mocked(lambda r: one.append(json.loads(r.content)) or accepted(r)).send_batch(batch)  # type: ignore[func-returns-value]
    text_alone, html_alone = (c["value"] for c in one[0]["content"])
    assert (html_alone, text_alone) == merge(
        batch.content.html, batch.content.text, batch.recipients[0].values
    )
    assert "substitutions" not in one[0]["personalizations"][0]
