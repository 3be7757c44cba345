"""The MIME builder, which encodes an issue's text once and each recipient's values apart, gives
the message the standard library's ``email`` package writes for the same recipient from scratch.

The reference below is that whole-message build: merge both parts, let ``EmailMessage`` encode
them (quoted-printable, 76 characters a line) and fold every header. Both messages are parsed back
with the standard library, the way a mail client reads them, and every header and both parts are
compared. Date and Message-ID differ per message by design; the boundary is free; ``add_alternative``
also gives the HTML part a MIME-Version of its own, which means nothing inside a multipart.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import random
from dataclasses import replace
from email.headerregistry import Address
from email.message import EmailMessage
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.issue import load_issue, resolve_issue
from newsletter.message import Content, Recipient
from newsletter.mime import build_message
from newsletter.per_recipient import list_headers
from newsletter.personalize import merge, placeholder
from newsletter.render import content_for, render_issue

REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
_HEADER_POLICY = email.policy.SMTP.clone(max_line_length=998)
_BODY_POLICY = email.policy.SMTP.clone(max_line_length=76)
PER_MESSAGE = {"date", "message-id"}


def reference(content: Content, recipient: Recipient) -> bytes:
    """The message as the ``email`` package writes it, part by part, for this one recipient."""
    html_part, text_part = merge(content.html, content.text, recipient.values)
    message = EmailMessage(policy=_BODY_POLICY)
    local, _, domain = content.from_email.rpartition("@")
    message["From"] = Address(display_name=content.from_name, username=local, domain=domain)
    local, _, domain = recipient.email.rpartition("@")
    message["To"] = Address(display_name=recipient.name or "", username=local, domain=domain)
    if content.reply_to:
        message["Reply-To"] = content.reply_to
    message["Subject"] = content.subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=content.from_email.rpartition("@")[2])
    for name, value in recipient.headers.items():
        message[name] = value
    message.set_content(text_part, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html_part, subtype="html", charset="utf-8", cte="quoted-printable")
    message.policy = _HEADER_POLICY
    return message.as_bytes()


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def headers(message: EmailMessage) -> list[tuple[str, object]]:
    """Every header as a mail client reads it; addresses as (display name, address) pairs."""
    shown: list[tuple[str, object]] = []
    for name, value in message.items():
        if name.lower() in PER_MESSAGE:
            continue
        if hasattr(value, "addresses"):
            shown.append((name, [(a.display_name, a.addr_spec) for a in value.addresses]))
        elif name.lower() == "content-type":
            params = {k: v for k, v in value.params.items() if k != "boundary"}
            shown.append((name, (value.content_type, params)))
        else:
            shown.append((name, str(value)))
    return shown


def parts(message: EmailMessage) -> list[tuple[list[tuple[str, object]], str]]:
    found = []
    for part in message.iter_parts():
        assert isinstance(part, EmailMessage)
        part_headers = [(n, v) for n, v in headers(part) if n.lower() != "mime-version"]
        found.append((part_headers, part.get_content()))
    return found


def assert_same_message(content: Content, recipient: Recipient) -> bytes:
    raw = build_message(content, recipient).data
    ours, theirs = parse(raw), parse(reference(content, recipient))
    assert headers(ours) == headers(theirs)
    assert parts(ours) == parts(theirs)
    assert ours["Date"] and ours["Message-ID"]
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
    assert all(len(line) <= 998 for line in head.split(b"\r\n"))
    # RFC 2045: at most 76 characters an encoded line, and none ending in whitespace.
    assert [line for line in body.split(b"\r\n") if len(line) > 76] == []
    assert [line for line in body.split(b"\r\n") if line.endswith((b" ", b"\t"))] == []
    return raw


def person(name: str | None, values: dict[str, str] | None = None) -> Recipient:
    email_address = "ida@example.com"
    url = "https://nyhedsbrev.example.org/u/WzEsMSwiMjAxOS0xMi0yMC10YWsiXQ.XIH9Yr3QfK7T9opDE4b"
    merged = {
        "name": name or "læser",
        "email": email_address,
        "unsubscribe_url": url,
        "preferences_url": url.replace("/u/", "/p/"),
        "web_url": "https://nyhedsbrev.example.org/2019-12-20-tak-for-et-godt-2019",
    }
    return Recipient(
        email=email_address,
        name=name,
        values={**merged, **(values or {})},
        headers={
            "List-Unsubscribe": f"<{url}>, <mailto:afmeld@example.org?subject=unsubscribe>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "List-Id": "=?utf-8?b?RXJodmVydnNueXQgZnJhIMOGcsO4?= <erhverv.nyhedsbrev.example.org>",
            "Feedback-ID": "2019-12-20-tak-for-et-godt-2019:erhverv:example-org",
        },
    )


@pytest.fixture(scope="module")
def sample_issue() -> Content:
    settings = load_settings(REPO / "newsletter.toml")
    rendered = render_issue(load_issue(resolve_issue(SAMPLE, settings), settings), settings)
    return content_for(rendered, settings)


NAMES = [
    None,
    "Ida",
    "Person 17",
    "Ida Ærø Sørensen",
    "Åse Løvstrøm",
    "Søren 🎄 Bøgh",
    "Hansen, Jens",
    "Jens P. Hansen",
    'Ole "Bo" Ærø',
    "Ærø, Søren",
    "O'Brien",
    "Ida  Hansen",
    " Ida",
    "Ida\u00a0Hansen",
    "Marie-Louise Østergaard Bøgh Christensen von Ærøskøbing-Løvstrøm af Ålborg og Ærø",
    "=?utf-8?q?Ida?=",
    "Ida (kontor)",
]


@pytest.mark.parametrize("name", NAMES)
def test_the_sample_issue_for_each_kind_of_name(sample_issue: Content, name: str | None) -> None:
    assert_same_message(sample_issue, person(name))


@pytest.mark.parametrize(
    "values",
    [
        {"name": "Ida = Bo"},  # "=" is QP's escape character
        {"name": "Ida   "},  # trailing spaces: must not end an encoded line
        {"name": " "},
        {"name": "\t"},
        {"name": ""},
        {"name": "Ida\nBo"},  # a line break inside a value
        {"name": "Ida\r\nBo"},  # CR LF inside a value: merged as one text
        {"name": "Ida\rBo"},
        {"name": "<Ida & \"Bo\" 'Ærø'>"},  # escaped in the HTML part, as is in the text
        {"name": "x" * 200},  # longer than a line
        {"name": "=" * 80},  # escapes across the line limit
        {"name": "æ" * 40},
        {"unsubscribe_url": "https://nyhedsbrev.example.org/u/" + "A" * 150},
    ],
    ids=repr,
)
def test_values_that_need_quoted_printable_care(sample_issue: Content, values: dict[str, str]) -> None:
    assert_same_message(sample_issue, person("Ida Ærø", values))


def test_headers_the_send_builds_for_a_list_with_a_danish_title() -> None:
    settings = load_settings(REPO / "newsletter.toml")
    shared = list_headers(settings, campaign=SAMPLE, list_name="erhverv", list_title="Erhvervsnyt fra Ærø")
    recipient = replace(person("Ida"), headers={**person("Ida").headers, **shared})
    content = Content(
        subject="Tak for et godt 2019 – glædelig jul og godt nytår til alle vores læsere i Ballerup og omegn",
        html=f"<p>Kære {placeholder('name')}</p>",
        text=f"Kære {placeholder('name')}",
        from_email="nyhedsbrev@example.org",
        from_name="Ballerup Kommune – Erhverv & Vækst",
        reply_to="Jens Rasmussen <jrau@balk.dk>",
        issue=SAMPLE,
    )
    raw = assert_same_message(content, recipient)
    assert b"List-Unsubscribe: <https://nyhedsbrev.example.org/u/" in raw  # plain, for Gmail and Yahoo


TEXTS = [
    "",
    "\n",
    "Kære %%nl:name%%",
    "%%nl:name%%",
    "%%nl:name%%\n",
    "Kære %%nl:name%%,\n\nAfmeld: %%nl:unsubscribe_url%%\n",
    "Linje med mellemrum til sidst   \nog tab\t\nog %%nl:name%% \n",
    "Før %%nl:name%%\nefter",
    "Hej \n%%nl:name%%",
    "Hej %%nl:name%%\n",
    "Windows\r\nlinjer %%nl:name%%\r\n",
    "Gammel Mac\rlinje %%nl:name%%",
    "a" * 74 + "%%nl:name%%" + "b" * 3,
    "a" * 75 + "%%nl:name%%",
    "a" * 76 + "\n" + "b" * 77 + "\n" + "c" * 150,
    "a" * 73 + "=" + "b" * 10,
    "a" * 74 + "æ" + "b" * 10,
    ". punktum først\n.\n..\nFrom her\n",
    "%%nl:name%%%%nl:email%%%%nl:web_url%%",
    "\u2028 og \u200b og \u034f og \u2013 — tegn uden for Latin-1",
]


@pytest.mark.parametrize("text", TEXTS, ids=repr)
@pytest.mark.parametrize("name", ["Ida", "Bo  ", "", "Ærø = ø\u00a0 "])
def test_literal_text_and_values_at_every_awkward_position(text: str, name: str) -> None:
    content = Content(
        subject="Nyt",
        html=text.replace("\n", "<br>\n"),
        text=text,
        from_email="nyhedsbrev@example.org",
        from_name="Kommunen",
    )
    assert_same_message(content, person("Ida", {"name": name}))


def test_random_texts_and_values_decode_the_same() -> None:
    """Seeded random texts from the characters quoted-printable treats specially."""
    chooser = random.Random(2045)
    alphabet = ["a", "b", " ", "\t", "=", ".", "\n", "æ", "€", "<", "&", "%%nl:name%%", "%%nl:email%%"]
    for _ in range(150):
        text = "".join(chooser.choice(alphabet) for _ in range(chooser.randrange(0, 300)))
        value = "".join(chooser.choice(alphabet[:-2]) for _ in range(chooser.randrange(0, 90)))
        content = Content(
            subject="Nyt", html=text, text=text, from_email="nyhedsbrev@example.org", from_name="Kommunen"
        )
        assert_same_message(content, person("Ida", {"name": value}))


def short_content() -> Content:
    return Content(
        subject="Nyt",
        html="<p>Hej</p>",
        text="Hej",
        from_email="nyhedsbrev@example.org",
        from_name="Kommunen",
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Kampagne", "jul  og nytår"),  # two spaces
        ("X-Kampagne", " foran"),
        ("X-Kampagne", "bagved "),
        ("X-Kampagne", "(kommentar) tekst"),
        ("X-Kampagne", "=?utf-8?q?Hej?="),  # reads as an encoded-word
        ("X-Kampagne", "a=?b"),
        ("X-Kampagne", "Ærø nyt"),
        ("X-Kampagne", "ord " * 300),  # longer than a header line may be
        ("List-Unsubscribe", "<https://nyhedsbrev.example.org/u/" + "A" * 900 + ">"),
        ("Cc", "Bo Ærø <bo@example.com>"),
    ],
)
def test_a_recipients_own_headers(name: str, value: str) -> None:
    content = short_content()
    recipient = Recipient(email="ida@example.com", name="Ida", values={}, headers={name: value})
    assert_same_message(content, recipient)


def test_a_recipients_headers_cannot_replace_the_builders() -> None:
    content = short_content()
    recipient = Recipient(email="ida@example.com", name="Ida", values={}, headers={"Subject": "Andet"})
    with pytest.raises(ValueError, match="cannot set Subject"):
        build_message(content, recipient)
