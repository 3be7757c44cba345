"""SendGrid v3: ``POST /v3/mail/send`` with up to 1000 personalizations per request.

The content goes once per request and SendGrid merges per recipient: every
``%%nl:NAME%%`` placeholder whose value differs between the request's
recipients is rewritten into a substitution tag — one for both parts
(``-nl_NAME_both-``) when HTML escaping changes none of its values, otherwise a
tag for the HTML part (``-nl_NAME_html-``, HTML-escaped value) and one for the
text part (``-nl_NAME_text-``, raw value). A value all of them share (the
issue's web address) is written into the content itself. Headers every recipient
shares (List-Id, Feedback-ID…) go once, in the message's ``headers``; each
personalization carries the recipient's own (List-Unsubscribe) and its
``custom_args`` (correlation ids, echoed as top-level keys of every
event-webhook record).

SendGrid answers ``202`` with no per-recipient ids; the ``X-Message-Id``
header identifies the request, so each recipient's id is
``<X-Message-Id>.<nl_delivery>`` (webhook ``sg_message_id`` values start with
the ``X-Message-Id``). A ``400`` that names ``personalizations.N.to…`` fields
is attributed to those recipients: they are rejected and suppressed, the rest
is sent again in one more request. SendGrid has no idempotency keys.

What an answer proves (SendGrid v3 "Errors"): 400, 413 and 429 refuse the
request before it is processed. A 5xx means "an error occurred when SendGrid
attempted to process it": ambiguous (the base class), as is any success other
than the documented 202.

SendGrid's Email Activity API (``GET /v3/messages?query=…``) can look a message
up by its ``custom_args`` (``unique_args['nl_delivery']``) and recipient — on
accounts that bought the "additional email activity history" add-on, with a key
allowed Email Activity. Without it the look-up is refused and rows stay unknown.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch, Content, Recipient
from newsletter.personalize import compile_content, escape_value_html, used_placeholders
from newsletter.providers import sendgrid_webhook
from newsletter.providers._json_body import (
    CONTENT_TYPE,
    fixed_string,
    json_array,
    json_object,
    json_string,
)
from newsletter.providers._shared import check_batch_size, response_json, short_text
from newsletter.providers.base import AcceptedQuery, ApiKeyProvider, Outcome, RecipientResult
from newsletter.providers.sendgrid_declaration import SendGridDeclaration
from newsletter.secrets import redact

EU_BASE_URL = "https://api.eu.sendgrid.com"  # for EU regional subusers
MAX_CATEGORIES = 10
# Messages one row's look-up asks for: one is expected.
ACTIVITY_LIMIT = 10
_RECIPIENT_FIELD = re.compile(r"^personalizations\.(\d+)\.(?:to|cc|bcc)\b")


def html_tag(name: str) -> str:
    return f"-nl_{name}_html-"


def text_tag(name: str) -> str:
    return f"-nl_{name}_text-"


def both_tag(name: str) -> str:
    """The tag of a value that reads the same in the HTML part as in the text part."""
    return f"-nl_{name}_both-"


# A value holding this could hold a tag, which SendGrid would substitute inside it: never written
# into the content itself.
_TAG_START = "-nl_"
_HTML_SPECIAL = "&<>\"'"  # what HTML escaping changes


@dataclass(frozen=True)
class _Placement:
    """Where each placeholder's value goes in one request.

    - A value every recipient of the request shares (the issue's web address; everything when
      there is one recipient) is written into the content itself, HTML-escaped in the HTML part,
      as our own merge writes it.
    - A value no recipient's HTML escaping changes (links, mostly) is one substitution used by
      both parts (:func:`both_tag`).
    - Any other value is two: HTML-escaped for the HTML part, as it is for the text part.
    """

    html: str  # the HTML part, its per-recipient placeholders as tags
    text: str
    tags: tuple[str, ...]  # each substitution's tag as a JSON string
    columns: tuple[list[str], ...]  # each substitution's value, recipient by recipient

    @classmethod
    def of(cls, content: Content, recipients: Sequence[Recipient]) -> _Placement:
        html_names, text_names = used_placeholders(content.html), used_placeholders(content.text)
        first = recipients[0].values if recipients else {}
        in_html: dict[str, str] = {}
        in_text: dict[str, str] = {}
        tags: list[str] = []
        columns: list[list[str]] = []
        for name in sorted(html_names | text_names):
            each = [recipient.values.get(name, "") for recipient in recipients]
            shared = first.get(name, "")
            if _TAG_START not in shared and each.count(shared) == len(each):
                in_html[name], in_text[name] = escape_value_html(shared), shared
            elif name in html_names and name in text_names and _html_escape_keeps("".join(each)):
                in_html[name] = in_text[name] = both_tag(name)
                tags.append(json_string(both_tag(name)))
                columns.append(each)
            else:
                in_html[name], in_text[name] = html_tag(name), text_tag(name)
                if name in html_names:
                    tags.append(json_string(html_tag(name)))
                    columns.append([escape_value_html(value) for value in each])
                if name in text_names:
                    tags.append(json_string(text_tag(name)))
                    columns.append(each)
        return cls(
            compile_content(content.html).render(in_html, None),
            compile_content(content.text).render(in_text, None),
            tuple(tags),
            tuple(columns),
        )


def _html_escape_keeps(text: str) -> bool:
    # A substring search per character: each is a scan at memory speed, a regex is a step per character.
    return not any(special in text for special in _HTML_SPECIAL)


def shared_items(mappings: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """The items every one of ``mappings`` holds, with the same value (all of them when there is one)."""
    if not mappings:
        return {}
    count = len(mappings)
    return {
        name: value
        for name, value in mappings[0].items()
        if [mapping.get(name) for mapping in mappings].count(value) == count
    }


# Between two values joined for one escape; JSON writes it as the six characters after it.
_GAP, _ESCAPED_GAP = "\x00", "\\u0000"


@dataclass(frozen=True)
class _Shape:
    """The JSON text of a personalization, ``%s`` where each value goes, for recipients alike in keys.

    Every recipient gives the same values in the same order: the address, the name ("" for
    none: :attr:`unnamed` skips it with ``%.0s``), the substitutions, their own headers, their
    ``custom_args``.
    """

    named: str
    unnamed: str
    header_names: tuple[str, ...]  # the recipient's own headers, in the order of the text
    arg_names: tuple[str, ...]

    @classmethod
    def of(cls, recipient: Recipient, tags: Sequence[str], shared_headers: Mapping[str, str]) -> _Shape:
        header_names = tuple(name for name in recipient.headers if name not in shared_headers)
        arg_names = tuple(recipient.metadata)

        def keyed(field: str, keys: Sequence[str]) -> str:
            pairs = (key.replace("%", "%%") + ':"%s"' for key in keys)
            return f',"{field}":{{' + ",".join(pairs) + "}" if keys else ""

        rest = (
            "}]"
            + keyed("substitutions", tags)
            + keyed("headers", [json_string(name) for name in header_names])
            + keyed("custom_args", [json_string(name) for name in arg_names])
            + "}"
        )
        named, unnamed = '{"to":[{"email":"%s","name":"%s"' + rest, '{"to":[{"email":"%s"%.0s' + rest
        return cls(named, unnamed, header_names, arg_names)


def _personalizations(
    recipients: Sequence[Recipient], placement: _Placement, shared_headers: Mapping[str, str]
) -> str:
    """The request's personalizations as JSON text.

    Headers that every recipient shares are left out: the request carries them once, at the top
    level, and SendGrid gives them to every personalization. (``custom_args`` stay in each: the
    top-level one is a string in SendGrid's schema, not a map.)

    The values are gathered column by column (each field's value for every recipient), and
    those of all recipients are escaped by one call: JSON escaping goes character by character,
    so the escape of the values joined by a gap is their escapes joined by the gap's escape. A
    value holding that text itself shows as one piece too many, and the values are then escaped
    one by one.
    """
    if not recipients:
        return ""
    shape = _Shape.of(recipients[0], placement.tags, shared_headers)
    names = [recipient.name or "" for recipient in recipients]
    own = _own_columns(recipients, shape)
    texts: list[str]
    rows: Iterable[Iterable[str]]
    if own is not None:
        texts = [shape.named if name else shape.unnamed for name in names]
        rows = zip(
            [recipient.email for recipient in recipients], names, *placement.columns, *own, strict=True
        )
    else:  # recipients differ in which headers or custom_args they have: a shape for each kind
        shapes: dict[tuple[tuple[str, ...], tuple[str, ...]], _Shape] = {}
        texts, listed = [], []
        for index, recipient in enumerate(recipients):
            key = (tuple(recipient.headers), tuple(recipient.metadata))
            if (mine := shapes.get(key)) is None:
                mine = shapes[key] = _Shape.of(recipient, placement.tags, shared_headers)
            texts.append(mine.named if names[index] else mine.unnamed)
            listed.append(
                [
                    recipient.email,
                    names[index],
                    *(column[index] for column in placement.columns),
                    *(recipient.headers[name] for name in mine.header_names),
                    *(recipient.metadata[name] for name in mine.arg_names),
                ]
            )
        rows = listed
    values = list(itertools.chain.from_iterable(rows))
    escaped = json_string(_GAP.join(values))[1:-1].split(_ESCAPED_GAP)
    if len(escaped) != len(values):
        escaped = [json_string(value)[1:-1] for value in values]
    return ",".join(texts) % tuple(escaped)


def _own_columns(recipients: Sequence[Recipient], shape: _Shape) -> list[list[str]] | None:
    """Each of ``shape``'s own headers and ``custom_args`` for every recipient; None unless all have just these."""
    # Every recipient holds the shared headers; with as many headers as the first and each of its
    # own, a recipient holds exactly the first's.
    arg_count = len(shape.arg_names)
    if any(len(r.metadata) != arg_count for r in recipients):
        return None
    headers = [r.headers for r in recipients]
    if any(len(h) != len(headers[0]) for h in headers):
        return None
    try:
        return [[h[name] for h in headers] for name in shape.header_names] + [
            [r.metadata[name] for r in recipients] for name in shape.arg_names
        ]
    except KeyError:
        return None


class SendGridProvider(SendGridDeclaration, ApiKeyProvider):
    idempotent = False
    documented_suffix = "/v3"  # the documentation writes URLs with /v3
    webhook = sendgrid_webhook.RECEIVER

    def request_body(self, batch: Batch, recipients: Sequence[Recipient] | None = None) -> bytes:
        """The ``/v3/mail/send`` body for ``recipients`` (default: the batch's); the content is encoded once per issue.

        The personalizations are written as JSON text (``{"to": […], "substitutions": {…},
        "headers": {…}, "custom_args": {…}}``, :func:`_personalizations`), the same document
        ``json.dumps`` of the dictionaries gives: a thousand of them to a request made the
        encoding of nested dictionaries most of this adapter's own time.
        """
        content = batch.content
        chosen = batch.recipients if recipients is None else recipients
        # Where each value goes, worked out once per request rather than per recipient.
        placement = _Placement.of(content, chosen)
        shared_headers = shared_items([recipient.headers for recipient in chosen])
        personalizations = _personalizations(chosen, placement, shared_headers)
        sender: dict[str, str] = {"email": content.from_email}
        if content.from_name:
            sender["name"] = content.from_name
        payload: dict[str, Any] = {
            "from": sender,
            "subject": content.subject,
        }
        if content.reply_to:
            payload["reply_to"] = {"email": content.reply_to}
        categories = list(dict.fromkeys([*([content.issue] if content.issue else []), *content.tags]))
        if len(categories) > MAX_CATEGORIES:
            raise ProviderPermanent(
                f"sendgrid: at most {MAX_CATEGORIES} categories per message; this issue has {len(categories)} "
                "(issue slug + tags) — remove some tags"
            )
        if categories:
            payload["categories"] = [c[:255] for c in categories]
        if shared_headers:
            payload["headers"] = shared_headers
        # SendGrid requires text/plain before text/html.
        parts = json_array(
            [
                json_object({"type": "text/plain"}, {"value": fixed_string(placement.text)}),
                json_object({"type": "text/html"}, {"value": fixed_string(placement.html)}),
            ]
        )
        return b"".join(
            json_object(
                payload, {"personalizations": [b"[", personalizations.encode(), b"]"], "content": parts}
            )
        )

    def build_payload(self, batch: Batch, recipients: Sequence[Recipient] | None = None) -> dict[str, Any]:
        """The request of :meth:`request_body` as SendGrid reads it."""
        payload: dict[str, Any] = json.loads(self.request_body(batch, recipients))
        return payload

    def _post(self, payload: bytes) -> httpx.Response:
        return self.post(
            "/v3/mail/send",
            content=payload,
            headers={
                "Authorization": f"Bearer {self._api_key}",
                "Accept": "application/json",
                **CONTENT_TYPE,
            },
        )

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        results: dict[int, RecipientResult] = {}
        remaining = list(range(len(batch.recipients)))
        # A 400 refuses the whole request (nothing is sent), so after taking out the
        # recipients it names, sending the rest again duplicates no one.
        while remaining:
            chosen = [batch.recipients[i] for i in remaining]
            with self.building():
                payload = self.request_body(batch, chosen)
            try:
                response = self._post(payload)
            except (ProviderAmbiguous, ProviderRetryable) as exc:
                if not results:
                    raise
                # The addresses already taken out were refused (provably unsent): keep that.
                outcome = Outcome.UNKNOWN if isinstance(exc, ProviderAmbiguous) else Outcome.RETRY
                for index in remaining:
                    results[index] = RecipientResult(outcome, reason=str(exc), retry_after=exc.retry_after)
                break
            if response.status_code == 202:
                results.update(zip(remaining, self._accepted(response, chosen), strict=True))
                break
            if 200 <= response.status_code < 300:
                unreadable = self.unreadable_success(response, "not the 202 SendGrid answers")
                if not results:
                    raise unreadable
                # Addresses taken out before were refused (nothing sent); the rest may have gone.
                for index in remaining:
                    results[index] = RecipientResult(Outcome.UNKNOWN, reason=str(unreadable), unreadable=True)
                break
            bad = _attributable_recipients(response, len(remaining)) if response.status_code == 400 else set()
            if not bad:
                taken_out = f" after removing {len(results)} invalid address(es)" if results else ""
                raise ProviderPermanent(
                    f"sendgrid: HTTP {response.status_code}{taken_out}: {_describe(response)}"
                )
            reasons = _reasons(response)
            for position in sorted(bad):
                reason = f"sendgrid: {reasons.get(position, 'invalid address')}"
                results[remaining[position]] = RecipientResult(Outcome.REJECTED, reason=reason, suppress=True)
            remaining = [index for position, index in enumerate(remaining) if position not in bad]
        return [results[i] for i in range(len(batch.recipients))]

    def _accepted(self, response: httpx.Response, recipients: Sequence[Recipient]) -> list[RecipientResult]:
        request_id = response.headers.get("x-message-id", "")
        if not request_id:
            return [RecipientResult(Outcome.ACCEPTED) for _ in recipients]
        return [
            RecipientResult(
                Outcome.ACCEPTED,
                message_id=recorded_id(request_id, recipient.metadata.get("nl_delivery") or str(index)),
            )
            for index, recipient in enumerate(recipients)
        ]

    def find_accepted(self, query: AcceptedQuery) -> str | None:
        conditions = [
            f"unique_args['nl_delivery']=\"{query.delivery_id}\"",
            f"unique_args['nl_issue']=\"{_quoted(query.issue)}\"",
        ]
        if query.email:
            conditions.append(f'to_email="{_quoted(query.email)}"')
        try:
            response = self.search(
                "/v3/messages",
                params={"query": " AND ".join(conditions), "limit": str(ACTIVITY_LIMIT)},
                headers={"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"},
            )
        except ProviderPermanent as exc:
            raise ProviderPermanent(
                f"{exc} — SendGrid's Email Activity API needs the paid add-on \"additional email "
                'activity history" and a key with Email Activity access'
            ) from exc
        body = response_json(response)
        messages = body.get("messages") if isinstance(body, Mapping) else None
        if not isinstance(messages, list):
            raise ProviderAmbiguous(
                f"sendgrid: the Email Activity API answered without messages ({short_text(response, 120)})"
            )
        for message in messages:
            if not isinstance(message, Mapping) or not message.get("msg_id"):
                continue
            if query.email and str(message.get("to_email", "")).lower() != query.email.lower():
                continue
            # SendGrid's msg_id starts with the request's X-Message-Id: recorded as a send records it.
            return recorded_id(str(message["msg_id"]).split(".", 1)[0], str(query.delivery_id))
        if len(messages) >= ACTIVITY_LIMIT:
            raise ProviderAmbiguous(
                f"sendgrid: the look-up of message {query.delivery_id} found {len(messages)} others"
            )
        return None


def recorded_id(request_id: str, delivery: str) -> str:
    """The id the ledger keeps for one recipient: the request's ``X-Message-Id`` and the row (``nl_delivery``)."""
    return f"{request_id}.{delivery}"


def _quoted(value: str) -> str:
    """``value`` inside a double-quoted string of SendGrid's query language."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _errors(response: httpx.Response) -> list[Mapping[str, Any]]:
    body = response_json(response)
    if isinstance(body, Mapping) and isinstance(body.get("errors"), list):
        return [e for e in body["errors"] if isinstance(e, Mapping)]
    return []


def _attributable_recipients(response: httpx.Response, count: int) -> set[int]:
    """Indexes named by the errors, if every error is about a recipient address."""
    indexes: set[int] = set()
    for error in _errors(response):
        match = _RECIPIENT_FIELD.match(str(error.get("field") or ""))
        if not match or int(match.group(1)) >= count:
            return set()
        indexes.add(int(match.group(1)))
    return indexes


def _reasons(response: httpx.Response) -> dict[int, str]:
    reasons: dict[int, str] = {}
    for error in _errors(response):
        match = _RECIPIENT_FIELD.match(str(error.get("field") or ""))
        if match:
            reasons[int(match.group(1))] = f"{error.get('message', '')} ({error.get('field')})"
    return reasons


def _describe(response: httpx.Response) -> str:
    errors = _errors(response)
    if errors:
        return redact("; ".join(f"{e.get('message', '')} (field {e.get('field')})" for e in errors))
    return short_text(response)


PROVIDER = SendGridProvider
