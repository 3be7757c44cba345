"""Brevo (EU-hosted): ``POST /v3/smtp/email`` with an ``api-key`` header, one rendered message per request.

Why not ``messageVersions``: a version may override only ``to``, ``cc``,
``bcc``, ``replyTo``, ``subject``, ``params``, ``htmlContent`` and
``textContent`` (Brevo's OpenAPI ``SendSmtpEmail.messageVersions``); ``headers``
and ``tags`` belong to the whole request. A newsletter needs a List-Unsubscribe
header with each recipient's own one-click URL, and the correlation ids travel
in a header too, so one request per recipient is the only way to send them
correctly. A batch of the ledger (``max_batch``) is posted message by message
over one kept-alive connection; each answer is mapped to its own recipient.

Correlation: ``X-Mailin-custom`` holds ``nl_issue=…&nl_subscriber=…&nl_delivery=…``
(urlencoded); Brevo hands that header back verbatim in every transactional
webhook. The issue slug and the issue's tags go in ``tags``.

Idempotency: each message carries ``headers.idempotencyKey``, a UUID derived from
the batch key and the recipient's delivery, so it is the same on every retry.
Brevo remembers it for only 30 minutes and answers a repeat with an error
(``duplicate_parameter``) instead of the first answer, so the adapter is *not*
``idempotent``: an ambiguous message stays ``unknown``. A repeat refused as a
duplicate is reported as unknown too (it most likely went out the first time).

What an answer proves: 201 with a ``messageId`` (or a one-element
``messageIds``) is accepted; another 2xx or a 201 without an id may have been
sent (unknown). 400 is a validation refusal: nothing sent. 401 is a key
refused. 429 is a rate limit (``x-sib-ratelimit-reset`` says when to try
again). Every 5xx is ambiguous (base class).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from newsletter.errors import ProviderPermanent, ProviderRetryable
from newsletter.message import Batch, Recipient
from newsletter.providers import brevo_webhook
from newsletter.providers._json_body import CONTENT_TYPE, json_object, merged_html, merged_text
from newsletter.providers._shared import (
    check_batch_size,
    rejected_invalid_addresses,
    response_json,
    send_one_by_one,
    short_text,
)
from newsletter.providers.base import ApiKeyProvider, Outcome, RecipientResult, retry_after_seconds
from newsletter.providers.brevo_declaration import API_KEY, BrevoDeclaration
from newsletter.secrets import redact

CUSTOM_HEADER = "X-Mailin-custom"
# Fixed namespace: the same batch key and delivery give the same idempotencyKey on every machine.
_KEY_NAMESPACE = uuid.UUID("6f1c3f8e-7d0a-4c55-9a3e-b7e5f0d1c2a4")
DUPLICATE = "duplicate_parameter"


def custom_header(metadata: Mapping[str, str]) -> str:
    """The correlation ids as one ASCII header value, read back by the webhook."""
    return urlencode(sorted((k, str(v)) for k, v in metadata.items()))


def message_key(batch_key: str, recipient: Recipient, position: int) -> str:
    """A UUID (Brevo requires one) that is the same for this message on every retry and resume."""
    which = recipient.metadata.get("nl_delivery") or f"{position}:{recipient.email.lower()}"
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{batch_key}/{which}"))


def _contact(address: str, name: str | None) -> dict[str, str]:
    contact = {"email": address}
    clean = " ".join((name or "").split())
    if clean:
        contact["name"] = clean
    return contact


class BrevoProvider(BrevoDeclaration, ApiKeyProvider):
    idempotent = False
    documented_suffix = "/v3"  # the documentation writes URLs with /v3
    webhook = brevo_webhook.RECEIVER

    def message_body(self, batch: Batch, recipient: Recipient, position: int = 0) -> bytes:
        """The request body of ``recipient``'s message; the issue's content is escaped once, not per message."""
        content = batch.content
        message: dict[str, Any] = {
            "sender": _contact(content.from_email, content.from_name),
            "to": [_contact(recipient.email, recipient.name)],
            "subject": content.subject,
        }
        if content.reply_to:
            message["replyTo"] = {"email": content.reply_to}
        headers = dict(recipient.headers)
        if recipient.metadata:
            headers[CUSTOM_HEADER] = custom_header(recipient.metadata)
        if batch.idempotency_key:
            headers["idempotencyKey"] = message_key(batch.idempotency_key, recipient, position)
        if headers:
            message["headers"] = headers
        tags = list(dict.fromkeys([*([content.issue] if content.issue else []), *content.tags]))
        if tags:
            message["tags"] = tags
        bodies = {
            "htmlContent": merged_html(content.html, recipient.values),
            "textContent": merged_text(content.text, recipient.values),
        }
        return b"".join(json_object(message, bodies))

    def build_payload(self, batch: Batch) -> list[dict[str, Any]]:
        """Every request body of the batch, in order (one message each), as Brevo reads it."""
        return [json.loads(self.message_body(batch, r, i)) for i, r in enumerate(batch.recipients)]

    def raise_for_transport_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429:
            wait = retry_after_seconds(response.headers)
            if wait is None:
                # Brevo's own header: seconds until the window resets.
                wait = retry_after_seconds({"retry-after": response.headers.get("x-sib-ratelimit-reset", "")})
            raise ProviderRetryable(
                f"brevo: HTTP 429 rate limit {short_text(response, 120)}", retry_after=wait
            )
        if status in (401, 403):
            raise ProviderPermanent(
                f"brevo: HTTP {status}: the API key was refused — check {API_KEY.name} "
                "(a Brevo API v3 key from SMTP & API → API Keys; an SMTP key does not work here)"
            )
        super().raise_for_transport_status(response)

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        recipients = list(batch.recipients)
        settled = rejected_invalid_addresses(self.name, recipients)
        with self.building():  # all of them before the first goes out
            bodies = {
                index: self.message_body(batch, recipient, index)
                for index, recipient in enumerate(recipients)
                if index not in settled
            }
        return send_one_by_one(
            self.name,
            len(recipients),
            settled,
            lambda index: self._send_one(bodies[index], recipients[index]),
        )

    def _send_one(self, message: bytes, recipient: Recipient) -> RecipientResult:
        response = self.post(
            "/v3/smtp/email",
            content=message,
            headers={"api-key": self._api_key, "Accept": "application/json", **CONTENT_TYPE},
        )
        body = response_json(response)
        status = response.status_code
        if status == 201:
            message_id = _message_id(body)
            if message_id is None:
                raise self.unreadable_success(response, "no messageId")
            return RecipientResult(Outcome.ACCEPTED, message_id=message_id)
        if 200 <= status < 300:
            raise self.unreadable_success(response, "not the 201 Brevo answers")
        code = str(body.get("code", "")) if isinstance(body, Mapping) else ""
        text = redact(str(body.get("message", ""))) if isinstance(body, Mapping) else short_text(response)
        if code == DUPLICATE and "idempotency" in text.lower():
            # About this message only (the next one has its own key): it most likely went out before.
            return RecipientResult(
                Outcome.UNKNOWN,
                reason="brevo: this message's idempotencyKey was used within the last 30 minutes — "
                "it was most likely sent by the earlier attempt",
            )
        if status == 400 and _about_address(text, recipient):
            return RecipientResult(Outcome.REJECTED, reason=f"brevo: {code}: {text}", suppress=True)
        raise ProviderPermanent(f"brevo: HTTP {status} {code}: {text or short_text(response)}")


def _message_id(body: object) -> str | None:
    if not isinstance(body, Mapping):
        return None
    value = body.get("messageId")
    if value is None and isinstance(body.get("messageIds"), list) and len(body["messageIds"]) == 1:
        value = body["messageIds"][0]
    return value if isinstance(value, str) and value.strip() else None


def _about_address(text: str, recipient: Recipient) -> bool:
    """A 400 about the recipient's own address (not the sender, not the content)."""
    lowered = text.lower()
    if recipient.email.lower() in lowered:
        return True
    # Brevo's wording: "email is not valid in to".
    return "email" in lowered and "sender" not in lowered and re.search(r"\bto\b", lowered) is not None


PROVIDER = BrevoProvider
