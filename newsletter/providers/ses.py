"""Amazon SES (API v2): ``POST /v2/email/outbound-emails``, one message per request, signed with SigV4.

``SendEmail`` with ``Content.Simple`` takes one subject, one HTML and one text
body, and up to 15 ``Headers`` for the whole message, so each recipient's
message (their merge values, their List-Unsubscribe) is its own request, as
with Brevo: a batch of the ledger (``max_batch``) is posted message by message
over one kept-alive connection, and ``[provider] concurrency`` batches run at
once. Every message is built before the first of its batch goes out.

Requests are signed with AWS Signature Version 4 by botocore's signer
(``SigV4Auth``, signing name ``ses``), with the access key from
``NEWSLETTER_SES_ACCESS_KEY_ID`` / ``NEWSLETTER_SES_SECRET_ACCESS_KEY`` (and
``NEWSLETTER_SES_SESSION_TOKEN`` for temporary credentials). A request is
signed just before it is posted: AWS refuses a signature older than five
minutes.

SES takes 7-bit ASCII addresses only: the domain goes in Punycode, a
non-ASCII display name as an RFC 2047 encoded-word; an address whose local
part is not ASCII cannot be sent through SES and is rejected (not suppressed).

Correlation: ``EmailTags`` ``nl_issue``, ``nl_subscriber``, ``nl_delivery``
(and ``nl_tag_N`` for the issue's tags), which SES hands back in ``mail.tags``
of the events a configuration set (``[provider] ses_configuration_set``)
publishes; identity notifications carry no tags and are matched by the
``MessageId`` this adapter records. No correlation header is added: a header
travels to the recipient, and both kinds of event are matched without one.

Gmail's ``Feedback-ID`` belongs to SES: it writes its own on every message (ending
``:AmazonSES``) and fills its first two identifiers from the tags ``ses:feedback-id-a`` and
``ses:feedback-id-b``. So the recipient's ``Feedback-ID`` header is not sent as a header
(two would compete); its campaign and list go in those two tags, and SES adds the sender part.

What an answer proves (the SES v2 API reference and the botocore model
``sesv2/2019-09-27``): 200 with a ``MessageId`` is accepted. Every documented
refusal is a 4xx and provably sent nothing: ``TooManyRequestsException``
(429) and ``LimitExceededException`` (400) are retried later;
``MessageRejected`` naming only the recipient (the sandbox's "not verified")
and ``BadRequestException`` naming the recipient's address reject that
message; any other ``MessageRejected`` / ``BadRequestException``,
``MailFromDomainNotVerifiedException``, ``AccountSuspendedException``,
``SendingPausedException`` and ``NotFoundException`` (the configuration set)
refuse the issue itself. 403 is the key or its permissions. Every 5xx is
ambiguous (base class). SES has no idempotency key: an ambiguous message
stays ``unknown``.
"""

from __future__ import annotations

import email.utils
import json
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from email_validator import EmailNotValidError, validate_email

from newsletter.errors import ConfigError, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch, Recipient
from newsletter.providers import ses_webhook
from newsletter.providers._json_body import CONTENT_TYPE, json_object, merged_html, merged_text
from newsletter.providers._shared import (
    check_batch_size,
    name_value_tags,
    rejected_invalid_addresses,
    response_json,
    send_one_by_one,
    short_text,
    tag_value,
)
from newsletter.providers.base import (
    Outcome,
    Provider,
    RecipientResult,
    http_client,
    retry_after_seconds,
)
from newsletter.providers.ses_declaration import (
    ACCESS_KEY_ID,
    DEFAULT_REGION,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
    SesDeclaration,
    SesOptions,
)
from newsletter.providers.settings import ProviderSettings
from newsletter.secrets import redact

SEND_PATH = "/v2/email/outbound-emails"
# The name SigV4 signs SES API v2 requests with (botocore's model: "signingName": "ses").
SIGNING_NAME = "ses"
CHARSET = "UTF-8"
# SES's own API host, e.g. email.eu-north-1.amazonaws.com (also .amazonaws.com.cn).
_SES_HOST = re.compile(r"email(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
# botocore's sesv2 model: a header value is printable ASCII, at most 995 characters.
_HEADER_VALUE = re.compile(r"[ -~]{1,995}")

# The header SES writes itself, and the tags whose values it puts first in it.
FEEDBACK_ID = "Feedback-ID"
FEEDBACK_TAGS = ("ses:feedback-id-a", "ses:feedback-id-b")

# Refusals that prove nothing was sent and may pass: send rate or daily quota reached.
_THROTTLED = frozenset(
    {"TooManyRequestsException", "LimitExceededException", "ThrottlingException", "Throttling"}
)
# Refusals of the account, the sender or the configuration: no message of the issue can go.
_WHAT_TO_DO = {
    "MailFromDomainNotVerifiedException": "the MAIL FROM domain of [sender] email is not verified in SES "
    "— verify it (or remove the custom MAIL FROM domain) in the SES console of ses_region",
    "AccountSuspendedException": "this AWS account may no longer send email through SES — see the SES "
    "console's account dashboard",
    "SendingPausedException": "sending is paused for the account or for ses_configuration_set — resume "
    "it in the SES console",
    "NotFoundException": "check [provider] ses_configuration_set: SES knows no configuration set of "
    "that name in ses_region",
}


class UnsendableAddress(ValueError):
    """An address SES cannot carry: its local part is not ASCII (SES has no SMTPUTF8)."""


def ses_address(name: str | None, address: str) -> str:
    """``Name <address>`` in the 7-bit ASCII SES requires: the domain in Punycode, a non-ASCII
    name as an RFC 2047 encoded-word, a name with specials quoted."""
    try:
        ascii_address = validate_email(address, check_deliverability=False).ascii_email
    except EmailNotValidError as exc:
        raise UnsendableAddress(f"{address!r} is not a valid address ({exc})") from None
    if ascii_address is None:
        raise UnsendableAddress(
            f"{address!r} has characters other than ASCII before the @, which SES cannot send to"
        )
    clean = " ".join((name or "").split())
    return email.utils.formataddr((clean, ascii_address), charset="utf-8")


# The sender's and the Reply-To address are the same in every message of an issue: checked once.
issue_address = lru_cache(maxsize=32)(ses_address)


def endpoint(region: str) -> str:
    """SES's API address in ``region``."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"https://email.{region}{suffix}"


def error_code(response: httpx.Response, body: object) -> str:
    """The AWS error code of a refusal: ``x-amzn-ErrorType`` or the body's ``__type`` / ``code``."""
    code = response.headers.get("x-amzn-errortype", "")
    if not code and isinstance(body, Mapping):
        code = str(body.get("__type") or body.get("code") or body.get("Code") or "")
    # "MessageRejected:http://internal.amazon.com/coral/…" or "com.amazonaws.ses#MessageRejected"
    return code.split(":", 1)[0].rpartition("#")[2].strip()


def _error_text(response: httpx.Response, body: object) -> str:
    if isinstance(body, Mapping):
        text = body.get("message") or body.get("Message")
        if isinstance(text, str) and text.strip():
            return redact(" ".join(text.split())[:300])
    return short_text(response)


class SesProvider(SesDeclaration, Provider):
    idempotent = False
    webhook = ses_webhook.RECEIVER

    @classmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> SesProvider:
        options = settings.options if isinstance(settings.options, SesOptions) else SesOptions()
        base_url = settings.base_url or endpoint(options.region)
        host = _SES_HOST.fullmatch(urlsplit(base_url).hostname or "")
        if host is not None and host["region"] != options.region:
            raise ConfigError(
                f"[provider] base_url: {base_url} is SES in {host['region']}, but ses_region is "
                f'{options.region!r} — set ses_region = "{host["region"]}" and leave base_url out'
            )
        return cls(
            client or http_client(settings),
            base_url,
            credentials=credentials_from_environment(),
            region=options.region,
            configuration_set=options.configuration_set,
        )

    def __init__(
        self,
        client: httpx.Client | None,
        base_url: str,
        *,
        credentials: Credentials,
        region: str = DEFAULT_REGION,
        configuration_set: str = "",
    ) -> None:
        super().__init__(client=client, base_url=base_url)
        self._signer = SigV4Auth(credentials, SIGNING_NAME, region)
        self.region = region
        self.configuration_set = configuration_set

    def __repr__(self) -> str:  # never show the keys
        return (
            f"SesProvider(base_url={self.base_url!r}, region={self.region!r}, "
            f"configuration_set={self.configuration_set!r})"
        )

    # -- building ---------------------------------------------------------------------------------
    def message_body(self, batch: Batch, recipient: Recipient) -> bytes:
        """The ``SendEmail`` request body for ``recipient`` (UnsendableAddress for their address).

        The issue's content is escaped once, not per message (:mod:`newsletter.providers._json_body`).
        """
        content = batch.content
        simple: dict[str, Any] = {"Subject": {"Data": content.subject, "Charset": CHARSET}}
        headers = dict(recipient.headers)
        feedback = headers.pop(FEEDBACK_ID, "")
        if headers:
            simple["Headers"] = [
                {"Name": name, "Value": _header_value(name, value)} for name, value in headers.items()
            ]
        parts = {
            "Text": json_object({"Charset": CHARSET}, {"Data": merged_text(content.text, recipient.values)}),
            "Html": json_object({"Charset": CHARSET}, {"Data": merged_html(content.html, recipient.values)}),
        }
        message: dict[str, Any] = {
            "FromEmailAddress": issue_address(content.from_name, content.from_email),
            "Destination": {"ToAddresses": [ses_address(recipient.name, recipient.email)]},
        }
        if content.reply_to:
            message["ReplyToAddresses"] = [issue_address(None, content.reply_to)]
        tags = {**name_value_tags(content, recipient), **feedback_tags(feedback)}
        if tags:
            message["EmailTags"] = [{"Name": name, "Value": value} for name, value in tags.items()]
        if self.configuration_set:
            message["ConfigurationSetName"] = self.configuration_set
        body = json_object(simple, {"Body": json_object({}, parts)})
        return b"".join(json_object(message, {"Content": json_object({}, {"Simple": body})}))

    def build_payload(self, batch: Batch) -> list[dict[str, Any]]:
        """Every request body of the batch, in order (one message each), as SES reads it."""
        return [json.loads(self.message_body(batch, recipient)) for recipient in batch.recipients]

    # -- sending ----------------------------------------------------------------------------------
    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        check_batch_size(self.name, batch, self.max_batch)
        recipients = list(batch.recipients)
        settled = rejected_invalid_addresses(self.name, recipients)
        bodies: dict[int, bytes] = {}
        content = batch.content
        with self.building():  # all of them before the first goes out
            # The issue's own addresses first: one SES cannot carry stops the issue (raised here),
            # so an UnsendableAddress from a message below is about its recipient.
            issue_address(content.from_name, content.from_email)
            if content.reply_to:
                issue_address(None, content.reply_to)
            for index, recipient in enumerate(recipients):
                if index in settled:
                    continue
                try:
                    bodies[index] = self.message_body(batch, recipient)
                except UnsendableAddress as exc:
                    settled[index] = RecipientResult(Outcome.REJECTED, reason=f"ses: {exc}")
        sender = content.from_email
        return send_one_by_one(
            self.name,
            len(recipients),
            settled,
            lambda index: self._send_one(bodies[index], recipients[index].email, sender),
        )

    def _signed_headers(self, body: bytes) -> dict[str, str]:
        """The headers of a request for ``body``, signed now (AWS refuses a signature 5 minutes old)."""
        request = AWSRequest(
            method="POST",
            url=self.base_url + SEND_PATH,
            data=body,
            headers=dict(CONTENT_TYPE),
        )
        self._signer.add_auth(request)
        return dict(request.headers.items())

    def _send_one(self, body: bytes, recipient: str, sender: str) -> RecipientResult:
        with self.building():
            headers = self._signed_headers(body)
        response = self.post(SEND_PATH, content=body, headers=headers)
        answer = response_json(response)
        status = response.status_code
        if status == 200:
            message_id = answer.get("MessageId") if isinstance(answer, Mapping) else None
            if not isinstance(message_id, str) or not message_id.strip():
                raise self.unreadable_success(response, "no MessageId")
            return RecipientResult(Outcome.ACCEPTED, message_id=message_id)
        if 200 <= status < 300:
            raise self.unreadable_success(response, "not the 200 SES answers")
        return self._refusal(response, answer, recipient, sender)

    def _refusal(
        self, response: httpx.Response, answer: object, recipient: str, sender: str
    ) -> RecipientResult:
        """A 4xx about this message: the recipient's own result, or raised for the whole issue."""
        code = error_code(response, answer)
        text = _error_text(response, answer)
        said = f"ses: HTTP {response.status_code} {code or 'error'}: {text}"
        if code in _THROTTLED:
            raise ProviderRetryable(said, retry_after=retry_after_seconds(response.headers))
        # SES names no field: a refusal is the recipient's own only when it names them and not the sender.
        about_recipient = _names(text, recipient) and not _names(text, sender)
        if code == "MessageRejected" and about_recipient:
            hint = (
                " (an SES account in the sandbox sends only to verified addresses: verify this one, "
                "or ask AWS for production access)"
                if "not verified" in text.lower()
                else ""
            )
            return RecipientResult(Outcome.REJECTED, reason=said + hint)
        if code == "BadRequestException" and about_recipient:
            return RecipientResult(Outcome.REJECTED, reason=said, suppress=True)
        what_to_do = _WHAT_TO_DO.get(code)
        raise ProviderPermanent(f"{said} — {what_to_do}" if what_to_do else said)

    def raise_for_transport_status(self, response: httpx.Response) -> None:
        if response.status_code == 429:  # TooManyRequestsException: said with its code
            answer = response_json(response)
            raise ProviderRetryable(
                f"ses: HTTP 429 {error_code(response, answer) or 'TooManyRequestsException'}: "
                f"{_error_text(response, answer)}",
                retry_after=retry_after_seconds(response.headers),
            )
        if response.status_code in (401, 403):
            raise ProviderPermanent(self._auth_refusal(response))
        super().raise_for_transport_status(response)

    def _auth_refusal(self, response: httpx.Response) -> str:
        answer = response_json(response)
        code = error_code(response, answer) or "error"
        text = _error_text(response, answer)
        said = f"ses: HTTP {response.status_code} {code}: {text}"
        if code in ("AccessDeniedException", "AccessDenied"):
            return (
                f"{said} — the key works but may not send: allow its IAM user ses:SendEmail on the sending "
                "identity (and on ses_configuration_set)"
            )
        if code == "RequestTimeTooSkewed" or "signature expired" in text.lower():
            return f"{said} — this computer's clock is more than 5 minutes off: synchronise it (NTP)"
        return (
            f"{said} — the access key was refused: check {ACCESS_KEY_ID.name} and {SECRET_ACCESS_KEY.name} "
            f"(and {SESSION_TOKEN.name} for temporary credentials), and that the key belongs to the "
            f"account whose SES is in ses_region {self.region!r}"
        )


def feedback_tags(feedback_id: str) -> dict[str, str]:
    """The campaign and list of a ``Feedback-ID`` (``campaign:list:sender``) as SES's two tags."""
    parts = [part for part in feedback_id.split(":") if part]
    return {name: tag_value(part) for name, part in zip(FEEDBACK_TAGS, parts[:-1], strict=False)}


def _header_value(name: str, value: str) -> str:
    if not _HEADER_VALUE.fullmatch(value):
        raise ValueError(
            f"SES takes header values of printable ASCII up to 995 characters; {name} is not "
            "(check [site] base_url and unsubscribe_mailto for characters other than ASCII)"
        )
    return value


def _names(text: str, address: str) -> bool:
    return bool(address) and address.lower() in text.lower()


def credentials_from_environment() -> Credentials:
    """The AWS key from NEWSLETTER_SES_*; ConfigError naming every variable that is missing."""
    if not ACCESS_KEY_ID.value() and not SECRET_ACCESS_KEY.value():
        raise ConfigError(
            f"{ACCESS_KEY_ID.name} and {SECRET_ACCESS_KEY.name} are not set — export the access key of an "
            f"IAM user allowed ses:SendEmail, e.g. export {ACCESS_KEY_ID.name}=AKIA… {SECRET_ACCESS_KEY.name}=… "
            "(secrets are read from the environment only, never from newsletter.toml)"
        )
    return Credentials(ACCESS_KEY_ID.require(), SECRET_ACCESS_KEY.require(), SESSION_TOKEN.value())


PROVIDER = SesProvider
