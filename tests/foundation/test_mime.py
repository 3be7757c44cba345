"""build_message: the message one recipient would receive, headers and both parts."""

from __future__ import annotations

import email
import email.policy

from newsletter.message import Content, Recipient
from newsletter.mime import build_message
from newsletter.personalize import placeholder

CONTENT = Content(
    subject="Tak for et godt 2019 – glædelig jul, Ærø",
    html=f'<p>Kære {placeholder("name")}</p><a href="{placeholder("unsubscribe_url")}">Afmeld</a>',
    text=f"Kære {placeholder('name')}\nAfmeld: {placeholder('unsubscribe_url')}",
    from_email="nyhedsbrev@example.org",
    from_name="BusinessBallerup",
    reply_to="jrau@balk.dk",
    issue="2019-12-20-tak",
)
RECIPIENT = Recipient(
    email="ida@example.com",
    name="Ida Ærø Sørensen",
    values={"name": "Ida & Co", "unsubscribe_url": "https://nyhedsbrev.example.org/u/t1"},
    headers={
        "List-Unsubscribe": "<https://nyhedsbrev.example.org/u/t1>, <mailto:afmeld@example.org?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    },
)


def parsed() -> email.message.EmailMessage:
    raw = build_message(CONTENT, RECIPIENT).data
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_headers() -> None:
    message = parsed()
    assert message["From"] == "BusinessBallerup <nyhedsbrev@example.org>"
    assert message["To"] == "Ida Ærø Sørensen <ida@example.com>"
    assert message["Reply-To"] == "jrau@balk.dk"
    assert message["Message-ID"].endswith("@example.org>")
    assert message["Date"]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Unsubscribe"].startswith("<https://nyhedsbrev.example.org/u/t1>")


def test_non_ascii_subject_is_encoded_and_round_trips() -> None:
    raw = build_message(CONTENT, RECIPIENT).data
    subject_line = next(line for line in raw.split(b"\r\n") if line.startswith(b"Subject:"))
    assert subject_line.isascii() and b"=?utf-8?" in subject_line.lower()
    assert parsed()["Subject"] == "Tak for et godt 2019 – glædelig jul, Ærø"


def test_both_parts_merged_for_the_recipient() -> None:
    message = parsed()
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    # Parsed back, the SMTP policy's CRLF line ends remain: compare lines.
    assert text.get_content().splitlines() == ["Kære Ida & Co", "Afmeld: https://nyhedsbrev.example.org/u/t1"]
    assert "Kære Ida &amp; Co" in html.get_content()
    assert 'href="https://nyhedsbrev.example.org/u/t1"' in html.get_content()


def test_a_long_list_unsubscribe_header_stays_plain_for_gmail() -> None:
    # Real tokens make the header ~180 characters; folding it into RFC 2047
    # encoded-words would hide the URL from Gmail's and Yahoo's one-click parsers.
    url = "https://nyhedsbrev.example.org/u/" + "WzEsMSwiMjAxOS0xMi0yMC10YWsiXQ" * 4 + ".XIH9Yr3QfK7T9opDE4b"
    header = f"<{url}>, <mailto:afmeld@example.org?subject=unsubscribe>"
    recipient = Recipient(
        email=RECIPIENT.email,
        name=RECIPIENT.name,
        values=RECIPIENT.values,
        headers={"List-Unsubscribe": header},
    )
    raw = build_message(CONTENT, recipient).data
    line = next(line for line in raw.split(b"\r\n") if line.startswith(b"List-Unsubscribe:"))
    assert line == b"List-Unsubscribe: " + header.encode()
    assert b"=?utf-8?" not in line.lower()


def test_body_lines_are_at_most_76_characters_as_rfc_2045_asks() -> None:
    """Quoted-printable lines over 76 characters cost spam points (SpamAssassin's MIME_QP_LONG_LINE)."""
    long_paragraph = (
        "Vi ønsker jer alle en glædelig jul og et godt nytår – tak for samarbejdet i året der gik. " * 12
    )
    content = Content(
        subject=CONTENT.subject,
        html=f"<p>{long_paragraph}</p>",
        text=long_paragraph,
        from_email=CONTENT.from_email,
        from_name=CONTENT.from_name,
        issue=CONTENT.issue,
    )
    raw = build_message(content, RECIPIENT).data
    head, _, body = raw.partition(b"\r\n\r\n")
    too_long = [line for line in body.split(b"\r\n") if len(line) > 76]
    assert too_long == []
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    text = message.get_body(preferencelist=("plain",))
    assert text is not None and long_paragraph.strip() in text.get_content()
    # Headers keep their own, longer limit: List-Unsubscribe is not folded into encoded-words.
    assert b"List-Unsubscribe: <https://nyhedsbrev.example.org/u/t1>" in head
