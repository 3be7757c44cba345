"""Postmark: ``POST /email/batch``, up to 500 fully rendered messages per request.

Postmark answers HTTP 200 for a batch even when single messages fail; each
entry of the answer (in the order of the request) carries an ``ErrorCode``:
0 accepted, 406 inactive recipient (bounced, complained or unsubscribed at
Postmark), 300 invalid email request. :data:`ERROR_CODES` turns those into the
project's per-recipient outcomes. Correlation data goes in ``Metadata``,
which Postmark echoes in every webhook (``Metadata`` object of the payload).
Postmark has no idempotency keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from newsletter.errors import ProviderAmbiguous, ProviderPermanent
from newsletter.personalize import merge
from newsletter.providers._shared import check_batch_size, display_address, response_json, short_text
from newsletter.providers.base import Batch, Outcome, Provider, Recipient, RecipientResult
from newsletter.secrets import redact

MAX_METADATA_VALUE = 80
INACTIVE_RECIPIENT = 406
INVALID_EMAIL_REQUEST = 300
# Per-message codes that say "try again later" rather than "never".
_TEMPORARY_CODES = {100, 429}


class PostmarkProvider(Provider):
    name = "postmark"
    max_batch = 500
    idempotent = False

    def __init__(
        self,
        client: httpx.Client | None,
        base_url: str,
        *,
        server_token: str,
        message_stream: str = "broadcast",
    ) -> None:
        super().__init__(client=client, base_url=base_url)
        self._server_token = server_token
        self.message_stream = message_stream

    def __repr__(self) -> str:  # never show the token
        return f"PostmarkProvider(base_url={self.base_url!r}, message_stream={self.message_stream!r})"

    def build_payload(self, batch: Batch) -> list[dict[str, Any]]:
        content = batch.content
        sender = display_address(content.from_name, content.from_email)
        # Postmark has one Tag (the issue); further tags travel in Metadata.
        extra_tags = ",".join(t for t in content.tags if t != content.issue)
        if len(extra_tags) > MAX_METADATA_VALUE:
            raise ProviderPermanent(
                f"postmark: the issue's tags ({extra_tags[:40]}…) exceed the {MAX_METADATA_VALUE} characters "
                "a Metadata value may hold — use fewer or shorter tags"
            )
        messages: list[dict[str, Any]] = []
        for recipient in batch.recipients:
            html, text = merge(content.html, content.text, recipient.values)
            message: dict[str, Any] = {
                "From": sender,
                "To": display_address(recipient.name, recipient.email),
                "Subject": content.subject,
                "HtmlBody": html,
                "TextBody": text,
                "MessageStream": self.message_stream,
            }
            if content.reply_to:
                message["ReplyTo"] = content.reply_to
            if content.issue:
                message["Tag"] = content.issue
            if recipient.headers:
                message["Headers"] = [{"Name": k, "Value": v} for k, v in recipient.headers.items()]
            metadata = {k: str(v) for k, v in recipient.metadata.items()}
            if extra_tags:
                metadata["nl_tags"] = extra_tags
            if metadata:
                message["Metadata"] = metadata
            messages.append(message)
        return messages

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        response = self.post(
            "/email/batch",
            json=self.build_payload(batch),
            headers={
                "X-Postmark-Server-Token": self._server_token,
                "Accept": "application/json",
            },
        )
        body = response_json(response)
        if response.status_code != 200:
            raise ProviderPermanent(f"postmark: HTTP {response.status_code}: {_describe(body, response)}")
        if not isinstance(body, list) or len(body) != len(batch.recipients):
            # A 200 we cannot read may still mean the batch went out.
            raise ProviderAmbiguous(
                f"postmark: unexpected answer to a batch of {len(batch.recipients)} from {self.base_url}: "
                f"{short_text(response, 120)} — check [provider] base_url"
            )
        return [_result(entry, recipient) for entry, recipient in zip(body, batch.recipients, strict=True)]


def _describe(body: object, response: httpx.Response) -> str:
    if isinstance(body, Mapping) and "Message" in body:
        return f"ErrorCode {body.get('ErrorCode')}: {redact(str(body['Message']))}"
    return short_text(response)


def _result(entry: object, recipient: Recipient) -> RecipientResult:
    if not isinstance(entry, Mapping):
        return RecipientResult(Outcome.RETRY, reason=f"postmark: unreadable answer entry {entry!r}")
    code = entry.get("ErrorCode")
    message = str(entry.get("Message", ""))
    if code == 0:
        return RecipientResult(Outcome.ACCEPTED, message_id=str(entry.get("MessageID", "")))
    reason = f"postmark ErrorCode {code}: {message}"
    if code == INACTIVE_RECIPIENT:
        return RecipientResult(Outcome.REJECTED, reason=reason, suppress=True)
    if code == INVALID_EMAIL_REQUEST:
        # 300 also covers a broken From or an empty body: only an error about this
        # recipient's own address may suppress it.
        about_recipient = "'to'" in message.lower() or recipient.email.lower() in message.lower()
        return RecipientResult(Outcome.REJECTED, reason=reason, suppress=about_recipient)
    if code in _TEMPORARY_CODES:
        return RecipientResult(Outcome.RETRY, reason=reason)
    return RecipientResult(Outcome.REJECTED, reason=reason)
