"""Request bodies from pre-encoded bytes: the same JSON as before, and the issue escaped once per issue.

A send of a 37 KB issue to 100,000 people spent more than half its time re-escaping the same
HTML into JSON for every recipient. These tests hold the builder to byte-for-byte the JSON that
``json.dumps`` of the merged message gives, and every HTTP adapter to escaping the issue's
content once per issue: what it escapes per batch does not grow with the issue.
"""

from __future__ import annotations

import contextlib
import json
import json.encoder
import uuid
from collections.abc import Callable

import httpx
import pytest

from newsletter.errors import ProviderAmbiguous
from newsletter.message import Batch
from newsletter.personalize import merge_html, merge_text, placeholder
from newsletter.providers._json_body import (
    encode,
    fixed_string,
    json_array,
    json_object,
    merged_html,
    merged_text,
)
from newsletter.providers.catalogue import names
from newsletter.providers.registry import make_provider
from tests.providers.conftest import make_content, make_recipient, settings_for

# Everything JSON makes a fuss of: quotes, backslashes, control characters, line separators,
# characters beyond the BMP, Danish letters, and HTML's own specials.
AWKWARD = 'Søren "Bølle" \\ Ærø\t<b>&</b>\n\u2028\u2029\x00\x1f 😀 </script>'
VALUES = {"name": AWKWARD, "email": "s@example.dk", "unsubscribe_url": 'https://x.dk/u/a?b=1&c="2"'}

CONTENTS = {
    "placeholders inside": f"<p>Kære {placeholder('name')},</p><p>{AWKWARD}</p>"
    f'<a href="{placeholder("unsubscribe_url")}">Afmeld</a>',
    "placeholders at both ends": f"{placeholder('name')}{placeholder('email')} — {placeholder('name')}",
    "no placeholder": f"<p>{AWKWARD}</p>",
    "empty": "",
}


@pytest.mark.parametrize("content", list(CONTENTS.values()), ids=list(CONTENTS))
def test_a_merged_part_is_byte_for_byte_the_json_of_the_merge(content: str) -> None:
    assert b"".join(merged_html(content, VALUES)) == encode(merge_html(content, VALUES))
    assert b"".join(merged_text(content, VALUES)) == encode(merge_text(content, VALUES))
    # A value missing from the recipient's merges as nothing, as in the merge.
    assert b"".join(merged_html(content, {})) == encode(merge_html(content, {}))


def test_objects_and_arrays_parse_to_their_fields_and_spliced_parts() -> None:
    content = CONTENTS["placeholders inside"]
    fields = {"From": "Nyhedsbrev <n@example.dk>", "Headers": [{"Name": "X", "Value": AWKWARD}]}
    message = json_object(
        fields, {"HtmlBody": merged_html(content, VALUES), "TextBody": merged_text(content, {})}
    )
    nested = json_object({}, {"Simple": json_object({}, {"Body": fixed_string(AWKWARD)})})
    parsed = json.loads(b"".join(json_array([message, nested, json_object({}, {})])))
    assert parsed == [
        {**fields, "HtmlBody": merge_html(content, VALUES), "TextBody": merge_text(content, {})},
        {"Simple": {"Body": AWKWARD}},
        {},
    ]
    assert json.loads(b"".join(json_array([]))) == []


def test_a_field_given_twice_or_a_fixed_string_with_placeholders_is_refused() -> None:
    with pytest.raises(ValueError, match="'html' is both a field and spliced"):
        json_object({"html": "x"}, {"html": fixed_string("y")})
    with pytest.raises(ValueError, match="merge placeholders: name"):
        fixed_string(f"Kære {placeholder('name')}")


# -- every HTTP adapter: the issue's content is escaped once per issue ---------------------------
# These send each recipient a complete MIME message (newsletter.mime), not JSON.
MIME_PROVIDERS = {"smtp", "outbox"}
HTTP_PROVIDERS = [name for name in names() if name not in MIME_PROVIDERS]
SECTION = '<tr><td><h2>Nyt fra Ballerup</h2><p>Æbler, "pærer" & blommer \\ høst.</p></td></tr>\n'
TEXT_SECTION = 'Nyt fra Ballerup: Æbler, "pærer" & blommer \\ høst.\n'
BATCHES = 3


def counting_escapes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The length of every string ``json`` escapes from now on, whoever asks (an adapter, httpx)."""
    lengths: list[int] = []

    def counted(escape: Callable[[str], str]) -> Callable[[str], str]:
        def escape_and_count(text: str) -> str:
            lengths.append(len(text))
            return escape(text)

        return escape_and_count

    monkeypatch.setattr(json.encoder, "encode_basestring", counted(json.encoder.encode_basestring))
    monkeypatch.setattr(
        json.encoder, "encode_basestring_ascii", counted(json.encoder.encode_basestring_ascii)
    )
    return lengths


def send_an_issue(name: str, sections: int) -> tuple[list[int], int]:
    """Characters JSON-escaped for each of three batches of one issue, and the bytes posted.

    The API answers 500, so every adapter builds its whole batch, posts once and stops there.
    """
    fresh = f"<!-- {uuid.uuid4().hex} -->"  # a new issue: nothing of it is cached yet
    content = make_content(
        html=f"<html><body>{fresh}<p>Kære {placeholder('name')},</p><table>{SECTION * sections}</table>"
        f'<a href="{placeholder("unsubscribe_url")}">Afmeld</a></body></html>',
        text=f"{fresh}\nKære {placeholder('name')},\n\n{TEXT_SECTION * sections}\n"
        f"Afmeld: {placeholder('unsubscribe_url')}\n",
    )
    posted: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        posted.append(request)
        return httpx.Response(500)

    provider = make_provider(
        settings_for(name, "http://provider.test").provider,
        httpx.Client(transport=httpx.MockTransport(answer)),
    )
    size = min(provider.max_batch, 20)
    per_batch: list[int] = []
    with pytest.MonkeyPatch.context() as patch:
        escaped = counting_escapes(patch)
        for number in range(BATCHES):
            people = [make_recipient(number * size + i) for i in range(size)]
            before = sum(escaped)
            with contextlib.suppress(ProviderAmbiguous):
                provider.send_batch(Batch(content, people, f"issue-batch-{number}"))
            per_batch.append(sum(escaped) - before)
    return per_batch, sum(len(request.content) for request in posted)


@pytest.mark.parametrize("name", HTTP_PROVIDERS)
def test_what_an_adapter_escapes_per_batch_does_not_grow_with_the_issue(
    name: str, provider_keys: dict[str, str]
) -> None:
    small, small_posted = send_an_issue(name, 1)
    large, large_posted = send_an_issue(name, 10)
    assert large_posted > small_posted  # the larger issue did go out (it is not escaped elsewhere)
    # After the first batch the issue is encoded: a batch escapes its recipients' values only.
    assert large[1:] == small[1:]
    # The first batch escapes the issue's content at most once (HTML and text), never per recipient.
    growth = 9 * (len(SECTION) + len(TEXT_SECTION))
    assert sum(large) - sum(small) <= growth


def test_the_adapters_under_test_are_the_http_ones() -> None:
    """Guards the test above: it covers every provider but the MIME ones, a plug-in's too."""
    assert set(names()) > MIME_PROVIDERS
    assert {"postmark", "resend", "sendgrid", "mailgun", "brevo", "ses"} <= set(HTTP_PROVIDERS)
