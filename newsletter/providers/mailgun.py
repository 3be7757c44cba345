"""Mailgun: ``POST /v3/{domain}/messages``, form data, up to 1000 recipients per request.

The content goes once and Mailgun merges per recipient from the
``recipient-variables`` JSON (keyed by address): each ``%%nl:NAME%%``
placeholder becomes ``%recipient.NAME_html%`` in the HTML part (escaped value)
and ``%recipient.NAME_text%`` in the text part (raw value). Mailgun expands
``%recipient.…%`` in header fields as well, so per-recipient headers are sent
as ``h:List-Unsubscribe=%recipient.h_list_unsubscribe%`` and correlation
metadata as ``v:nl_delivery=%recipient.v_nl_delivery%``; webhooks echo the
``v:`` values under ``event-data.user-variables``.

Mailgun answers one id for the whole request, and refuses the whole request
(HTTP 400) when a single ``to`` address is invalid, without naming it. The
adapter then finds the bad address(es) — by validating every address, and if
none is invalid by our rules, by splitting the batch in halves until the
refused recipient is alone — rejects and suppresses them, and sends the rest.
A 400 refuses everything, so the split never sends anyone twice. Mailgun has
no idempotency keys.

What an answer proves (Mailgun "API Response Codes"): 400 (and 401/403/404)
refuse the request, 429 is a rate limit. A 500 is an internal error for which
Mailgun recommends retrying, which does not prove nothing was queued; a
502/503/504 may come from a proxy: ambiguous (the base class), as is a 200
without a message id or any other success.

Mailgun's events API (``GET /v3/{domain}/events``) lists what happened to each
message, filtered by ``recipient`` and ``user-variables`` (our ``v:`` ids):
:meth:`find_accepted` pages through the row's events from the moment it was
planned. Any event but ``rejected`` means Mailgun accepted the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from urllib.parse import quote

import httpx

from newsletter.errors import ConfigError, ProviderAmbiguous, ProviderPermanent
from newsletter.message import Batch, Recipient
from newsletter.personalize import escape_value_html, translate, used_placeholders
from newsletter.providers import mailgun_webhook
from newsletter.providers._form_body import form_fields
from newsletter.providers._shared import (
    check_batch_size,
    display_address,
    response_json,
    send_isolating_bad_addresses,
    short_text,
)
from newsletter.providers.base import AcceptedQuery, Outcome, Provider, RecipientResult, http_client
from newsletter.providers.mailgun_declaration import API_KEY, MailgunDeclaration, MailgunOptions
from newsletter.providers.settings import ProviderSettings

EU_BASE_URL = "https://api.eu.mailgun.net"
MAX_TAGS = 3
# Events per page (Mailgun's maximum), and pages one row's search may take before giving up.
EVENTS_PAGE = 300
MAX_EVENT_PAGES = 20
# Clocks differ: search from a little before the row was planned.
_CLOCK_MARGIN_SECONDS = 3600
_ADDRESS_PROBLEM = re.compile(r"(?i)\b(to|recipient)\b.*\b(address|invalid)\b|not a valid address")


def _variable_key(prefix: str, name: str) -> str:
    return prefix + re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _html_variable(name: str) -> str:
    return f"%recipient.{name}_html%"


def _text_variable(name: str) -> str:
    return f"%recipient.{name}_text%"


@lru_cache(maxsize=64)
def _content_field(name: str, content: str) -> bytes:
    """The issue's text or HTML as a form field, percent-encoded once per issue rather than per batch."""
    return form_fields([(name, content)])


class MailgunProvider(MailgunDeclaration, Provider):
    idempotent = False
    webhook = mailgun_webhook.RECEIVER

    @classmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> MailgunProvider:
        key = API_KEY.require()
        options = settings.options
        if not isinstance(options, MailgunOptions) or not options.domain:
            raise ConfigError(
                '[provider] mailgun_domain: is required for Mailgun — add mailgun_domain = "mg.example.dk"'
            )
        return cls(
            client or http_client(settings), settings.base_url or cls.default_base_url,
            api_key=key, domain=options.domain,
        )  # fmt: skip

    def __init__(self, client: httpx.Client | None, base_url: str, *, api_key: str, domain: str) -> None:
        # The documentation shows URLs ending in /v3; the adapter adds that itself.
        super().__init__(client=client, base_url=base_url.rstrip("/").removesuffix("/v3"))
        if not domain or "/" in domain:
            raise ValueError(f"mailgun: invalid sending domain {domain!r}")
        self._api_key = api_key
        self.domain = domain

    def __repr__(self) -> str:
        return f"MailgunProvider(base_url={self.base_url!r}, domain={self.domain!r})"

    def request_body(self, batch: Batch, recipients: Sequence[Recipient] | None = None) -> bytes:
        """The urlencoded form for ``recipients`` (default: the batch's); the content is encoded once per issue."""
        content = batch.content
        chosen = list(batch.recipients if recipients is None else recipients)
        # Each value's key in recipient-variables, worked out once per batch rather than per recipient.
        html_keys = [(f"{n}_html", n) for n in sorted(used_placeholders(content.html))]
        text_keys = [(f"{n}_text", n) for n in sorted(used_placeholders(content.text))]
        header_keys = {h: _variable_key("h_", h) for h in sorted({h for r in chosen for h in r.headers})}
        metadata_keys = {m: _variable_key("v_", m) for m in sorted({m for r in chosen for m in r.metadata})}

        variables: dict[str, dict[str, str]] = {}
        for recipient in chosen:
            if recipient.email in variables:
                raise ValueError(f"mailgun: {recipient.email} appears twice in one batch")
            merged = recipient.values
            values = {key: escape_value_html(merged.get(name, "")) for key, name in html_keys}
            values.update({key: merged.get(name, "") for key, name in text_keys})
            values.update({key: recipient.headers.get(h, "") for h, key in header_keys.items()})
            values.update({key: str(recipient.metadata.get(m, "")) for m, key in metadata_keys.items()})
            variables[recipient.email] = values

        tags = list(dict.fromkeys([*([content.issue] if content.issue else []), *content.tags]))
        if len(tags) > MAX_TAGS:
            raise ProviderPermanent(
                f"mailgun: at most {MAX_TAGS} tags per message; this issue has {len(tags)} "
                "(issue slug + tags) — remove some tags"
            )
        head: list[tuple[str, str]] = [
            ("from", display_address(content.from_name, content.from_email)),
            *[("to", display_address(r.name, r.email)) for r in chosen],
            ("subject", content.subject),
        ]
        tail: list[tuple[str, str]] = [
            ("recipient-variables", json.dumps(variables, ensure_ascii=False, separators=(",", ":"))),
            *([("h:Reply-To", content.reply_to)] if content.reply_to else []),
            *[(f"h:{h}", f"%recipient.{key}%") for h, key in header_keys.items()],
            *[(f"v:{m}", f"%recipient.{key}%") for m, key in metadata_keys.items()],
            *[("o:tag", tag) for tag in tags],
        ]
        return b"&".join(
            [
                form_fields(head),
                _content_field("text", translate(content.text, _text_variable)),
                _content_field("html", translate(content.html, _html_variable)),
                form_fields(tail),
            ]
        )

    def _post(self, form: bytes) -> httpx.Response:
        return self.post(
            f"/v3/{quote(self.domain, safe='')}/messages",
            content=form,
            auth=("api", self._api_key),
            headers={"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"},
        )

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        recipients = list(batch.recipients)

        def attempt(indexes: list[int]) -> list[RecipientResult] | str:
            with self.building():
                form = self.request_body(batch, [recipients[i] for i in indexes])
            response = self._post(form)
            if 200 <= response.status_code < 300:
                body = response_json(response)
                message_id = str(body.get("id") or "").strip().strip("<>") if isinstance(body, dict) else ""
                if response.status_code != 200 or not message_id:
                    # e.g. Mailgun's "Mailgun Magnificent API" page for a wrong URL: nothing
                    # says the messages were queued, nor that they were not.
                    raise self.unreadable_success(response, "no message id (check mailgun_domain too)")
                return [RecipientResult(Outcome.ACCEPTED, message_id=message_id) for _ in indexes]
            message = _message(response)
            if response.status_code == 400 and _ADDRESS_PROBLEM.search(message):
                return message
            raise ProviderPermanent(f"mailgun: HTTP {response.status_code}: {message}")

        return send_isolating_bad_addresses(recipients, attempt, self.name, idempotent=self.idempotent)

    def find_accepted(self, query: AcceptedQuery) -> str | None:
        auth = ("api", self._api_key)
        params = {
            "begin": str(int(query.since.timestamp()) - _CLOCK_MARGIN_SECONDS),
            "ascending": "yes",
            "limit": str(EVENTS_PAGE),
            "user-variables": json.dumps({"nl_delivery": str(query.delivery_id)}),
            **({"recipient": query.email} if query.email else {}),
        }
        url = f"/v3/{quote(self.domain, safe='')}/events"
        for _page in range(MAX_EVENT_PAGES):
            response = self.search(url, params=params, auth=auth, headers={"Accept": "application/json"})
            body = response_json(response)
            items = body.get("items") if isinstance(body, dict) else None
            if not isinstance(items, list):
                raise ProviderAmbiguous(
                    f"mailgun: the events API answered without items ({short_text(response, 120)}) — "
                    "check [provider] base_url and mailgun_domain"
                )
            if not items:
                return None  # the last page is the empty one
            for item in items:
                message_id = _accepted_id(item, query)
                if message_id:
                    return message_id
            paging = body.get("paging") if isinstance(body, dict) else None
            following = paging.get("next") if isinstance(paging, dict) else None
            if not isinstance(following, str) or not following:
                raise ProviderAmbiguous("mailgun: the events API gave no next page to read on")
            url, params = following, {}
        raise ProviderAmbiguous(
            f"mailgun: more than {MAX_EVENT_PAGES * EVENTS_PAGE} events for message {query.delivery_id}"
        )


def _accepted_id(item: object, query: AcceptedQuery) -> str | None:
    """Mailgun's message id when ``item`` is an event of this row's message that says Mailgun took it."""
    if not isinstance(item, dict) or item.get("event") == "rejected":
        return None
    variables = item.get("user-variables")
    if not isinstance(variables, dict) or str(variables.get("nl_delivery")) != str(query.delivery_id):
        return None
    if variables.get("nl_issue") not in (None, query.issue):
        return None
    if query.email is not None and str(item.get("recipient", "")).lower() != query.email.lower():
        return None
    message = item.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    message_id = headers.get("message-id") if isinstance(headers, dict) else None
    return str(message_id).strip().strip("<>") if message_id else f"mailgun-event-{item.get('id', '')}"


def _message(response: httpx.Response) -> str:
    body = response_json(response)
    if isinstance(body, dict) and "message" in body:
        return " ".join(str(body["message"]).split())[:300]
    return short_text(response)


PROVIDER = MailgunProvider
