"""Form bodies written by translation are what urllib.parse.urlencode writes, byte for byte."""

from __future__ import annotations

import json
import random
from urllib.parse import parse_qsl, urlencode

from newsletter.providers._form_body import form_fields, form_value
from newsletter.providers.mailgun import MailgunProvider
from tests.providers.conftest import make_batch

AWKWARD = [
    "",
    " ",
    "plain-text_1.2~",
    "a b+c&d=e/f?g#h%i",
    'Søren "Sønne" Ærø <søren@example.dk>',
    "line\nbreak\r\ttab\x00nul",
    "emoji 😀 and U+2028 \u2028 and ü",
    json.dumps({"modtager@example.com": {"unsubscribe_url_html": "https://x.dk/u/a?b=1&c=2"}}),
]


def test_every_byte_is_encoded_as_urlencode_encodes_it() -> None:
    every_character = "".join(chr(code) for code in range(0x800)) + "\U0001f600\uffff"
    for text in [*AWKWARD, every_character]:
        assert form_value(text) == urlencode([("", text)])[1:]


def test_random_text_and_whole_forms_match_urlencode() -> None:
    chooser = random.Random(13)
    planes = [(0, 0x80), (0x80, 0x800), (0x800, 0xD800), (0xE000, 0x10000), (0x10000, 0x110000)]
    for _ in range(500):
        pairs = []
        for _ in range(chooser.randrange(1, 5)):
            low, high = chooser.choice(planes)
            name = "".join(chr(chooser.randrange(low, high)) for _ in range(chooser.randrange(0, 8)))
            value = "".join(
                chr(chooser.randrange(*chooser.choice(planes))) for _ in range(chooser.randrange(0, 40))
            )
            pairs.append((name, value))
        written = form_fields(pairs)
        assert written == urlencode(pairs).encode("ascii")
        assert parse_qsl(written.decode(), keep_blank_values=True) == pairs


def test_a_mailgun_form_reads_back_as_the_fields_it_was_given() -> None:
    provider = MailgunProvider(None, "https://api.eu.mailgun.net", api_key="key-x", domain="mg.example.dk")
    body = provider.request_body(make_batch(3))
    fields = parse_qsl(body.decode("ascii"), keep_blank_values=True)
    variables = json.loads(dict(fields)["recipient-variables"])
    assert sorted(variables) == [f"modtager{n}@example.com" for n in range(3)]
    assert [value for name, value in fields if name == "to"] == [
        f"Jens Hansen {n} <modtager{n}@example.com>" for n in range(3)
    ]
