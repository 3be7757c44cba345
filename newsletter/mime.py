"""A full MIME message (multipart/alternative, text + HTML) for one recipient.

Used by ``newsletter build`` (message.eml with a sample recipient) and the
outbox provider, so that what the outbox holds is exactly what a mail client
would receive. Non-ASCII subjects and names are encoded per RFC 2047 by the
standard library's ``email`` package.

Every header value is checked here once more, whatever validated it before: a
control character or line separator raises :class:`~newsletter.safe_text.UnsafeText`
instead of reaching a mail client (where ``\r\nBcc:`` would add a recipient).
"""

from __future__ import annotations

import email.policy
import email.utils
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage

from newsletter.message import Content, Recipient
from newsletter.personalize import merge
from newsletter.safe_text import check_header_text

# Headers are never folded with RFC 2047 encoded-words just for length: a
# List-Unsubscribe URL that long must stay a plain <https://…> for Gmail and
# Yahoo to find it. 998 is RFC 5322's hard line limit.
_HEADER_POLICY = email.policy.SMTP.clone(max_line_length=998)
# The policy's max_line_length is also the quoted-printable wrap width, and
# RFC 2045 asks for 76 (longer lines cost spam points: MIME_QP_LONG_LINE).
# The parts are encoded under this policy, the message is written under the one above.
_BODY_POLICY = email.policy.SMTP.clone(max_line_length=76)


def _address(email_address: str, name: str | None, what: str) -> Address:
    check_header_text(email_address, f"{what} address")
    check_header_text(name or "", f"{what} name")
    local, _, domain = email_address.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def build_message(
    content: Content,
    recipient: Recipient,
    *,
    message_id_domain: str | None = None,
    extra_headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """The message ``recipient`` would receive, both parts merged and all headers set."""
    html_part, text_part = merge(content.html, content.text, recipient.values)
    message = EmailMessage(policy=_BODY_POLICY)
    message["From"] = _address(content.from_email, content.from_name, "From")
    message["To"] = _address(recipient.email, recipient.name, "To")
    if content.reply_to:
        message["Reply-To"] = check_header_text(content.reply_to, "Reply-To")
    message["Subject"] = check_header_text(content.subject, "Subject")
    message["Date"] = email.utils.formatdate(localtime=False)
    domain = message_id_domain or content.from_email.rpartition("@")[2]
    message["Message-ID"] = email.utils.make_msgid(domain=domain)
    for name, value in {**dict(recipient.headers), **dict(extra_headers or {})}.items():
        message[check_header_text(name, "a header name")] = check_header_text(value, name)
    message.set_content(text_part, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html_part, subtype="html", charset="utf-8", cte="quoted-printable")
    message.policy = _HEADER_POLICY
    return message
