"""Postmark: ``POST /email/batch``, up to 500 fully rendered messages per request.

Postmark answers HTTP 200 for a batch even when single messages fail; each
entry of the answer (in the order of the request) carries an ``ErrorCode``:
0 accepted, 406 inactive recipient (bounced, complained or unsubscribed at
Postmark), 300 invalid email request. :data:`ERROR_CODES` turns those into the
project's per-recipient outcomes. Correlation data goes in ``Metadata``,
which Postmark echoes in every webhook (``Metadata`` object of the payload).
Postmark has no idempotency keys.

What an answer proves (Postmark's API overview): 422 (with an API
``ErrorCode``), 413, 415 and 404 refuse the request before anything is sent;
429 is a rate limit. A 500 "in most cases" loses the message — most is not
all — and a 502/503/504 may come from a proxy in front of an API that did
accept the batch: those are ambiguous (the base class). A 200 must be a list
with one entry per message, each with an integer ``ErrorCode``, and an
accepted entry must carry a ``MessageID`` and the recipient's address in
``To``; anything else about an entry is unknown, never "not sent".

Postmark's outbound message search (``GET /messages/outbound``, Messages API) finds
what it accepted by recipient and ``metadata_<name>``: :meth:`find_accepted`
asks for the row's ``nl_delivery`` and ``nl_issue`` (and its recipient) and
takes an entry only when its ``Metadata`` says the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from newsletter.errors import ProviderAmbiguous, ProviderPermanent
from newsletter.message import Batch, Recipient
from newsletter.providers import postmark_webhook
from newsletter.providers._json_body import (
    Body,
    Chunks,
    json_array,
    json_object,
    merged_html,
    merged_text,
)
from newsletter.providers._shared import check_batch_size, display_address, response_json, short_text
from newsletter.providers.base import AcceptedQuery, Outcome, Provider, RecipientResult, http_client
from newsletter.providers.postmark_declaration import TOKEN, PostmarkDeclaration, PostmarkOptions
from newsletter.providers.settings import ProviderSettings
from newsletter.secrets import redact

MAX_METADATA_VALUE = 80
INACTIVE_RECIPIENT = 406
INVALID_EMAIL_REQUEST = 300
# Per-message codes that say "try again later" rather than "never".
_TEMPORARY_CODES = {100, 429}
# One row's search finds one message; a few more leave room for what we must filter out ourselves.
SEARCH_PAGE = 50


class PostmarkProvider(PostmarkDeclaration, Provider):
    idempotent = False
    webhook = postmark_webhook.RECEIVER

    @classmethod
    def from_settings(
        cls, settings: ProviderSettings, client: httpx.Client | None = None
    ) -> PostmarkProvider:
        options = settings.options if isinstance(settings.options, PostmarkOptions) else PostmarkOptions()
        return cls(
            client or http_client(settings),
            settings.base_url or cls.default_base_url,
            server_token=TOKEN.require(),
            message_stream=options.message_stream,
        )

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

    def request_body(self, batch: Batch) -> Body:
        """The ``/email/batch`` body: every recipient's message, the issue's content escaped once."""
        content = batch.content
        sender = display_address(content.from_name, content.from_email)
        # Postmark has one Tag (the issue); further tags travel in Metadata.
        extra_tags = ",".join(t for t in content.tags if t != content.issue)
        if len(extra_tags) > MAX_METADATA_VALUE:
            raise ProviderPermanent(
                f"postmark: the issue's tags ({extra_tags[:40]}…) exceed the {MAX_METADATA_VALUE} characters "
                "a Metadata value may hold — use fewer or shorter tags"
            )
        messages: list[Chunks] = []
        for recipient in batch.recipients:
            message: dict[str, Any] = {
                "From": sender,
                "To": display_address(recipient.name, recipient.email),
                "Subject": content.subject,
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
            bodies = {
                "HtmlBody": merged_html(content.html, recipient.values),
                "TextBody": merged_text(content.text, recipient.values),
            }
            messages.append(json_object(message, bodies))
        return Body(json_array(messages))

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        with self.building():
            payload = self.request_body(batch)
        response = self.post(
            "/email/batch",
            content=payload,
            headers={
                "X-Postmark-Server-Token": self._server_token,
                "Accept": "application/json",
                **payload.headers,
            },
        )
        body = response_json(response)
        if 200 <= response.status_code < 300:
            if response.status_code != 200 or not isinstance(body, list):
                raise self.unreadable_success(response, "not the list of results Postmark answers")
            if len(body) != len(batch.recipients):
                # Which entry belongs to whom is lost: every message of the batch may have gone.
                raise self.unreadable_success(
                    response, f"{len(body)} results for a batch of {len(batch.recipients)}"
                )
            return [
                _result(entry, recipient) for entry, recipient in zip(body, batch.recipients, strict=True)
            ]
        # 4xx other than 401/403/429: Postmark refused the request as a whole, before sending.
        raise ProviderPermanent(f"postmark: HTTP {response.status_code}: {_describe(body, response)}")

    def find_accepted(self, query: AcceptedQuery) -> str | None:
        params = {
            "count": str(SEARCH_PAGE),
            "offset": "0",
            "metadata_nl_delivery": str(query.delivery_id),
            "metadata_nl_issue": query.issue,
            **({"recipient": query.email} if query.email else {}),
        }
        response = self.search(
            "/messages/outbound",
            params=params,
            headers={"X-Postmark-Server-Token": self._server_token, "Accept": "application/json"},
        )
        body = response_json(response)
        messages = body.get("Messages") if isinstance(body, Mapping) else None
        total = body.get("TotalCount") if isinstance(body, Mapping) else None
        if not isinstance(messages, list) or not isinstance(total, int):
            raise ProviderAmbiguous(
                f"postmark: the message search answered something else than TotalCount and Messages "
                f"({short_text(response, 120)}) — check [provider] base_url"
            )
        for message in messages:
            if _is_the_row(message, query):
                message_id = message.get("MessageID")
                if isinstance(message_id, str) and message_id:
                    return message_id
        if total > len(messages):
            raise ProviderAmbiguous(
                f"postmark: the search for message {query.delivery_id} found {total} messages, "
                "too many to tell whether it is among them"
            )
        return None


def _describe(body: object, response: httpx.Response) -> str:
    if isinstance(body, Mapping) and "Message" in body:
        return f"ErrorCode {body.get('ErrorCode')}: {redact(str(body['Message']))}"
    return short_text(response)


def _is_the_row(message: object, query: AcceptedQuery) -> bool:
    """The search's entry carries this row's ids (and goes to its recipient, when we know them)."""
    if not isinstance(message, Mapping):
        return False
    metadata = message.get("Metadata")
    if not isinstance(metadata, Mapping) or metadata.get("nl_delivery") != str(query.delivery_id):
        return False
    if metadata.get("nl_issue") not in (None, query.issue):
        return False
    if query.email is None:
        return True
    recipients = message.get("Recipients")
    return isinstance(recipients, list) and query.email.lower() in [str(r).lower() for r in recipients]


def _unreadable(entry: object) -> RecipientResult:
    # An answer about this message we cannot read: it may have been sent (never "retry").
    shown = redact(" ".join(repr(entry).split())[:120])
    return RecipientResult(
        Outcome.UNKNOWN, reason=f"postmark: unreadable result for this message: {shown}", unreadable=True
    )


def _result(entry: object, recipient: Recipient) -> RecipientResult:
    if not isinstance(entry, Mapping):
        return _unreadable(entry)
    code = entry.get("ErrorCode")
    message = str(entry.get("Message", ""))
    if not isinstance(code, int) or isinstance(code, bool):
        return _unreadable(entry)
    to = entry.get("To")
    if isinstance(to, str) and to and recipient.email.lower() not in to.lower():
        return _unreadable(entry)  # the answer is about someone else: its order cannot be trusted
    if code == 0:
        message_id = entry.get("MessageID")
        if not isinstance(message_id, str) or not message_id.strip():
            return RecipientResult(
                Outcome.UNKNOWN,
                reason="postmark: answered OK without a MessageID — most likely delivered; "
                "do not send it again unless you are sure it was not",
                unreadable=True,
            )
        return RecipientResult(Outcome.ACCEPTED, message_id=message_id)
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


PROVIDER = PostmarkProvider
