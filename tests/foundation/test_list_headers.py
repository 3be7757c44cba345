"""List-Id (RFC 2919) and Gmail's Feedback-ID: one builder, the same for every recipient of a send.

The identifier is checked against RFC 2919's grammar written out here, not against the
builder's own pattern; the title is read back the way a mail client reads it.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest

from newsletter.config import Settings, settings_from_dict
from newsletter.message import Content, Recipient
from newsletter.mime import build_message
from newsletter.per_recipient import feedback_id, list_headers, list_id
from newsletter.send.ledger import ClaimedRow
from newsletter.send.recipients import RecipientBuilder
from tests.providers.conftest import LIST_HEADERS, LIST_TITLE

ISSUE = "2019-12-20-tak-for-et-godt-2019"
# RFC 2919 §2: list-id = list-label "." list-id-namespace; the label a dot-atom-text (RFC 5322
# atext), the namespace a domain name or the literal "localhost"; at most 255 octets.
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM_TEXT = rf"{_ATEXT}(?:\.{_ATEXT})*"
_DOMAIN_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_RFC_2919 = re.compile(rf"{_DOT_ATOM_TEXT}\.(?:localhost|{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})+)")


def site(
    base_url: str = "https://nyhedsbrev.example.org", sender: str = "nyhedsbrev@example.org"
) -> Settings:
    data = {
        "organisation": {"name": "BusinessBallerup", "address": "Hold-An Vej 7, 2750 Ballerup"},
        "sender": {"name": "BusinessBallerup", "email": sender},
        "site": {"base_url": base_url},
    }
    return settings_from_dict(data, root=Path.cwd())


def identifier(value: str) -> str:
    """The list identifier between the angle brackets at the end of a List-Id value."""
    found = re.fullmatch(r"(?:.*\s)?<([^<>]*)>", value)
    assert found is not None, value
    return found.group(1)


def as_received(value: str) -> tuple[bytes, str]:
    """The List-Id line of a message carrying ``value`` (raw), and the header as a mail client decodes it."""
    content = Content(
        subject="Nyt", html="<p>x</p>", text="x", from_email="nyhedsbrev@example.org", from_name="B"
    )
    recipient = Recipient(email="ida@example.com", name=None, values={}, headers={"List-Id": value})
    raw = build_message(content, recipient).data
    (line,) = [line for line in raw.split(b"\r\n") if line.startswith(b"List-Id:")]
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return line, str(parsed["List-Id"])


def test_list_id_is_the_lists_title_and_name_under_the_sites_host() -> None:
    assert list_id(site(), "erhverv", "Erhvervsnyt") == "Erhvervsnyt <erhverv.nyhedsbrev.example.org>"
    assert list_id(site(), "erhverv") == "<erhverv.nyhedsbrev.example.org>"  # the phrase is optional
    assert list_id(site(), "erhverv", "Nyt, fra Kbh.") == '"Nyt, fra Kbh." <erhverv.nyhedsbrev.example.org>'


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("erhverv", "erhverv"),
        ("borger_2024", "borger-2024"),
        ("Ærø Nyt!", "aeroe-nyt"),
        ("nyt:liste<b>", "nyt-liste-b"),
        ("a..b", "a-b"),
        ("..", "list"),
        ("", "list"),
        ("🎉", "list"),
        ("x" * 300, "x" * 60),
    ],
)
def test_any_list_name_gives_a_valid_rfc_2919_identifier(name: str, label: str) -> None:
    value = identifier(list_id(site(), name, "Titel"))
    assert _RFC_2919.fullmatch(value), value
    assert value == f"{label}.nyhedsbrev.example.org"


@pytest.mark.parametrize(
    ("base_url", "namespace"),
    [
        ("https://Nyhedsbrev.Example.ORG:8443/sti/", "nyhedsbrev.example.org"),
        ("https://nyhedsbrev.ærø.dk", "nyhedsbrev.xn--r-3fa9c.dk"),  # an IDN host in Punycode
        ("http://127.0.0.1:8000", "localhost"),  # no domain: RFC 2919's unmanaged namespace
        ("http://[::1]:8000", "localhost"),
        ("http://localhost:8000", "localhost"),
    ],
)
def test_the_namespace_is_the_sites_host_or_localhost(base_url: str, namespace: str) -> None:
    value = identifier(list_id(site(base_url), "erhverv"))
    assert _RFC_2919.fullmatch(value) and value == f"erhverv.{namespace}"


def test_a_long_host_shortens_the_label_to_keep_the_identifier_within_255_octets() -> None:
    host = ".".join(["a" * 61] * 4) + ".dk"  # 250 characters: room for a label of 4
    value = identifier(list_id(site(f"https://{host}"), "erhverv"))
    assert _RFC_2919.fullmatch(value) and value == f"erhv.{host}" and len(value) == 255


@pytest.mark.parametrize(
    "title",
    ["Erhvervsnyt fra Ærø", "Nyt fra Århus, Øster Hurup & Æbelø", "Ærø " * 40, 'Smørrebrød (og "mere")'],
)
def test_a_danish_title_is_encoded_and_reads_back_as_written(title: str) -> None:
    value = list_id(site(), "erhverv", title)
    assert value.isascii() and value.isprintable()  # SES takes printable ASCII only
    words = value.rsplit(" <", 1)[0].split()
    assert all(word.startswith("=?utf-8?") and len(word) <= 75 for word in words)  # RFC 2047 §2
    line, decoded = as_received(value)
    assert line.isascii()
    assert decoded == f"{' '.join(title.split())} <erhverv.nyhedsbrev.example.org>"


def test_the_provider_tests_carry_what_the_builder_builds() -> None:
    assert list_headers(site(), campaign=ISSUE, list_name="erhverv", list_title=LIST_TITLE) == LIST_HEADERS


@pytest.mark.parametrize(
    ("campaign", "list_name", "sender"),
    [
        (ISSUE, "erhverv", "nyhedsbrev@example.org"),
        ("confirm", "nyt:liste", "post@bøgeskov.dk"),
        ("2024-01-05-" + "meget-lang-titel-" * 10, "x" * 64, "a@" + "sub." * 30 + "dk"),
        ("", "", "nyhedsbrev@example.org"),
    ],
)
def test_feedback_id_is_at_most_four_short_ascii_identifiers(
    campaign: str, list_name: str, sender: str
) -> None:
    value = feedback_id(site(sender=sender), campaign, list_name)
    parts = value.split(":")
    assert 1 <= len(parts) <= 4  # Gmail reads up to four
    assert all(re.fullmatch(r"[a-z0-9-]{1,60}", part) for part in parts), value


def test_feedback_id_names_campaign_list_and_sender() -> None:
    assert feedback_id(site(), ISSUE, "erhverv") == f"{ISSUE}:erhverv:example-org"


def test_every_recipient_of_a_send_gets_the_same_list_id_and_feedback_id_naming_none_of_them() -> None:
    builder = RecipientBuilder(
        site(), issue=ISSUE, list_id=4, list_name="erhverv", list_title="Erhvervsnyt", lang="da"
    )
    rows = [
        ClaimedRow(70001, 80001, "ida.soerensen@example.com", "Ida Sørensen", "da", 0, "key-ida"),
        ClaimedRow(70002, 80002, "jens@hansen.dk", "Jens Hansen", "da", 0, "key-jens"),
    ]
    first, second = (builder.for_row(row) for row in rows)
    pair = {name: first.headers[name] for name in ("List-Id", "Feedback-ID")}
    assert pair == {name: second.headers[name] for name in ("List-Id", "Feedback-ID")}
    assert pair == list_headers(site(), campaign=ISSUE, list_name="erhverv", list_title="Erhvervsnyt")
    personal = [
        str(part).lower()
        for row in rows
        for part in (
            row.email,
            row.email.split("@")[0],
            row.name,
            row.subscriber_id,
            row.delivery_id,
            row.link_key,
        )
    ]
    assert not [part for part in personal for value in pair.values() if part in value.lower()]
    # The per-recipient header beside them does differ: it carries each person's own link.
    assert first.headers["List-Unsubscribe"] != second.headers["List-Unsubscribe"]
