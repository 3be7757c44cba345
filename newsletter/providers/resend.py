"""Resend: ``POST /emails/batch``, up to 100 fully rendered emails per request, idempotent.

Every request carries ``Idempotency-Key: <batch.idempotency_key>``. Resend
keeps the key for 24 hours: the same key with the same body returns the first
answer and sends nothing again, which makes a batch whose answer was lost (read
timeout, dropped connection, crash) safe to send again — ``idempotent = True``.
The same key with a *different* body is refused with 409
``invalid_idempotent_request``: that is a bug or a changed issue, reported as a
permanent error; 409 ``concurrent_idempotent_requests`` (the first request is
still running) is retryable.

Correlation metadata goes in ``tags`` (name/value, ASCII letters, digits,
``_`` and ``-`` only; other characters become ``_``); webhooks echo them under
``data.tags``. The answer ``{"data": [{"id": …}, …]}`` lists one id per email,
in order. A 422 about addresses is attributed by validating each address; the
rest is sent again under a derived, equally stable key.

What an answer proves (Resend "Errors"): 400/422 validation errors and 429
refuse the request; a 5xx does not say, nor does a success we cannot read —
ambiguous, and with the Idempotency-Key the batch is simply posted again
under the same key (the provider answers from its memory if it had it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any, NoReturn

import httpx

from newsletter.errors import ProviderPermanent, ProviderRetryable
from newsletter.message import Batch, Recipient
from newsletter.providers import resend_webhook
from newsletter.providers._json_body import (
    Body,
    Chunks,
    json_array,
    json_object,
    merged_html,
    merged_text,
)
from newsletter.providers._shared import (
    check_batch_size,
    name_value_tags,
    response_json,
    send_isolating_bad_addresses,
    short_text,
)
from newsletter.providers.base import ApiKeyProvider, Outcome, RecipientResult
from newsletter.providers.resend_declaration import ResendDeclaration
from newsletter.secrets import redact

MAX_KEY_LENGTH = 256


def resend_address(name: str | None, address: str) -> str:
    """``Name <address>`` as Resend parses it: no quoting, so quotes, brackets and commas go."""
    if not name:
        return address
    clean = " ".join(re.sub(r'[",<>\r\n]', " ", name).split())
    return f"{clean} <{address}>" if clean else address


def idempotency_key(base: str, excluded: Sequence[int] = ()) -> str:
    """The batch key, or a stable derivative when some recipients were taken out."""
    key = (
        base
        if not excluded
        else f"{base}/minus-{hashlib.sha256(repr(sorted(excluded)).encode()).hexdigest()[:16]}"
    )
    if len(key) > MAX_KEY_LENGTH:
        key = "sha256-" + hashlib.sha256(key.encode()).hexdigest()
    return key


class ResendProvider(ResendDeclaration, ApiKeyProvider):
    idempotent = True
    idempotency_window = timedelta(hours=24)  # Resend's documented memory of a key
    webhook = resend_webhook.RECEIVER

    def request_body(self, batch: Batch, recipients: Sequence[Recipient] | None = None) -> Body:
        """The ``/emails/batch`` body for ``recipients`` (default: the batch's), the content escaped once."""
        content = batch.content
        sender = resend_address(content.from_name, content.from_email)
        emails: list[Chunks] = []
        for recipient in batch.recipients if recipients is None else recipients:
            email: dict[str, Any] = {
                "from": sender,
                "to": [resend_address(recipient.name, recipient.email)],
                "subject": content.subject,
            }
            if content.reply_to:
                email["reply_to"] = content.reply_to
            if recipient.headers:
                email["headers"] = dict(recipient.headers)
            tags = name_value_tags(content, recipient)
            if tags:
                email["tags"] = [{"name": name, "value": value} for name, value in tags.items()]
            bodies = {
                "html": merged_html(content.html, recipient.values),
                "text": merged_text(content.text, recipient.values),
            }
            emails.append(json_object(email, bodies))
        return Body(json_array(emails))

    def build_payload(
        self, batch: Batch, recipients: Sequence[Recipient] | None = None
    ) -> list[dict[str, Any]]:
        """The emails of :meth:`request_body` as Resend reads them."""
        payload: list[dict[str, Any]] = json.loads(bytes(self.request_body(batch, recipients)))
        return payload

    def _post(self, payload: Body, key: str | None) -> httpx.Response:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            **payload.headers,
        }
        if key:
            headers["Idempotency-Key"] = key
        return self.post("/emails/batch", content=payload, headers=headers)

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        recipients = list(batch.recipients)
        everyone = list(range(len(recipients)))

        def attempt(indexes: list[int]) -> list[RecipientResult] | str:
            key = None
            if batch.idempotency_key:
                # A subset (after a refusal) gets its own key, derived so that it is
                # the same again on a retry or a resume.
                left_out = [i for i in everyone if i not in set(indexes)]
                key = idempotency_key(batch.idempotency_key, left_out)
            with self.building():
                payload = self.request_body(batch, [recipients[i] for i in indexes])
            response = self._post(payload, key)
            if response.status_code == 200:
                return self._accepted(response, len(indexes))
            if 200 <= response.status_code < 300:
                raise self.unreadable_success(response, "not the 200 Resend answers")
            body = response_json(response)
            message = str(body.get("message", "")) if isinstance(body, Mapping) else ""
            if response.status_code == 422 and "`to`" in message:
                return message
            _raise_for(response, key)

        return send_isolating_bad_addresses(recipients, attempt, self.name, idempotent=self.idempotent)

    def _accepted(self, response: httpx.Response, count: int) -> list[RecipientResult]:
        body = response_json(response)
        data = body.get("data") if isinstance(body, Mapping) else None
        if not isinstance(data, list) or len(data) != count:
            # May or may not have sent; the Idempotency-Key makes posting the batch again safe.
            raise self.unreadable_success(response, f"not one id for each of the {count} emails")
        ids = [e.get("id") if isinstance(e, Mapping) else None for e in data]
        if not all(isinstance(i, str) and i.strip() for i in ids):
            raise self.unreadable_success(response, "an email without an id")
        return [RecipientResult(Outcome.ACCEPTED, message_id=str(i)) for i in ids]


def _raise_for(response: httpx.Response, key: str | None) -> NoReturn:
    body = response_json(response)
    name = str(body.get("name", "")) if isinstance(body, Mapping) else ""
    message = redact(str(body.get("message", ""))) if isinstance(body, Mapping) else short_text(response)
    if response.status_code == 409 and name == "concurrent_idempotent_requests":
        raise ProviderRetryable(f"resend: the batch with Idempotency-Key {key} is still being processed")
    if response.status_code == 409:
        raise ProviderPermanent(
            f"resend: HTTP 409 {name or 'conflict'}: Idempotency-Key {key} was already used for a different "
            "batch (the issue or its recipients changed since it was first sent) — nothing was sent again; "
            "check the ledger before re-sending this batch"
        )
    raise ProviderPermanent(f"resend: HTTP {response.status_code} {name}: {message or short_text(response)}")


PROVIDER = ResendProvider
