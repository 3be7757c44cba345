"""What every provider adapter speaks: the project's result types and the base class.

A send hands an adapter one :class:`~newsletter.message.Batch` (the message
model lives in :mod:`newsletter.message`): the issue's content rendered once
(HTML and text with merge placeholders, see :mod:`newsletter.personalize`) and
a list of :class:`~newsletter.message.Recipient` s, each with the values to merge. Adapters that
must render each message merge it: as JSON from the issue's pre-encoded parts (Postmark, Resend,
Brevo, SES: :mod:`newsletter.providers._json_body`) or as MIME (the outbox, SMTP:
:func:`newsletter.personalize.merge`); adapters whose API merges per recipient
(SendGrid substitutions, Mailgun recipient-variables) translate the
placeholders into the provider's own syntax and send the content once.

The base class owns the steps — build the request, post it, read a result per
recipient — and maps transport failures into the three provider errors:

- :class:`ProviderRetryable`: the answer *proves* the request never took
  effect (connect refused / connect timeout, 429, a documented validation
  refusal). Safe to retry without an idempotency key.
- :class:`ProviderAmbiguous`: it may have taken effect (read timeout,
  connection dropped after the body was sent, any 5xx — a gateway's 502/504
  can stand in front of a provider that accepted the batch —, a success we
  cannot read, a redirect). Only an idempotency key (``Provider.idempotent``)
  makes a retry safe; otherwise the rows become ``unknown``.
  :class:`UnreadableAnswer` is the kind that will not read better on a second
  try (a redirect, a web page where JSON belongs): the run stops after it.
- :class:`ProviderPermanent`: refused as a whole, provably unsent (auth,
  malformed payload, a request we could not even build).

Which HTTP status proves what is decided per provider in one place, its
class: :meth:`Provider.raise_for_transport_status` and ``not_processed``.

Per-recipient outcomes come back as :class:`RecipientResult` in the order of
``batch.recipients``.

A provider whose declaration names a ``log_search`` also answers
:meth:`Provider.find_accepted`: is the message of one ledger row (an
:class:`AcceptedQuery`) in the provider's log of accepted messages?
:meth:`Provider.search` is its HTTP step: a refused key is
:class:`ProviderPermanent`, a 429 :class:`ProviderRetryable`, anything else
that is not an answer :class:`ProviderAmbiguous` — for a look-up all three
mean "undecided" (:mod:`newsletter.send.reconcile`).
"""

from __future__ import annotations

import contextlib
import email.utils
import enum
import math
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Self

import httpx

from newsletter.errors import ProviderAmbiguous, ProviderError, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.providers.settings import ProviderDeclaration, ProviderSettings
from newsletter.providers.webhook import WebhookReceiver
from newsletter.secrets import redact


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # the provider took it; message_id identifies it
    REJECTED = "rejected"  # permanent for this recipient; do not retry
    RETRY = "retry"  # temporary for this recipient, provably not sent; try again later
    UNKNOWN = "unknown"  # the answer about this recipient could not be read: maybe sent


class UnreadableAnswer(ProviderAmbiguous):
    """An answer that is not the API's own (a redirect, a web page, a body of the wrong shape).

    Ambiguous like any answer we cannot read — a gateway may have passed the
    request on — and a configuration problem rather than a passing one, so the
    send stops after recording the batch instead of feeding it more batches.
    """


# Not frozen: a frozen dataclass is built through object.__setattr__, field by field (1.3 µs against
# 0.3), and an adapter makes one for every recipient of a request — a tenth of SendGrid's own time
# for a request of 1,000. Nothing changes a result once an adapter has returned it.
@dataclass(slots=True)
class RecipientResult:
    outcome: Outcome
    message_id: str | None = None
    reason: str = ""
    # The address itself is bad or inactive: suppress it so it is never tried again.
    suppress: bool = False
    retry_after: float | None = None
    # UNKNOWN because the answer was not the API's own (a body of the wrong shape, a redirect): it
    # will not read better for the next batch, so the send stops at once instead of after a few.
    unreadable: bool = False


@dataclass(frozen=True)
class AcceptedQuery:
    """One ledger row to look up in the provider's log: the ids every message of it carried."""

    delivery_id: int  # nl_delivery
    issue: str  # nl_issue (the slug; also the issue's tag)
    email: str | None  # the recipient; None once the person was erased (searched by the ids alone)
    since: datetime  # the message cannot have been posted before this (the row was planned then)


class Provider(ProviderDeclaration, ABC):
    """An email provider's HTTP API (or the outbox folder, or an SMTP relay) behind the project's types.

    The class is everything the project knows about the provider: what the
    settings know (its :class:`~newsletter.providers.settings.ProviderDeclaration`:
    name, batch maximum, key, ``read_options``) and how it sends and reads its
    webhook. The registry (:mod:`newsletter.providers.registry`) finds it by
    ``name``, and config, secrets, recovery and the web service ask it rather
    than naming providers.
    """

    # True when the API honours an idempotency key: an ambiguous batch may be resent under it …
    idempotent: ClassVar[bool] = False
    # … for this long after it was first posted (None: forever). Say it when idempotent: a key
    # the provider has forgotten dedupes nothing, so an interrupted batch older than this is unknown.
    idempotency_window: ClassVar[timedelta | None] = timedelta(hours=24)
    # How the provider's events arrive at ``POST /webhooks/NAME``; None: it sends none.
    webhook: ClassVar[WebhookReceiver | None] = None

    def __init__(self, client: httpx.Client | None = None, base_url: str = "") -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    @classmethod
    @abstractmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> Provider:
        """The adapter for ``settings``, its secrets read from the environment (ConfigError when missing).

        ``client`` replaces the HTTP client an HTTP adapter would make (tests).
        """

    @abstractmethod
    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Deliver ``batch``; one result per recipient, in order. Raises ProviderError."""

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    def find_accepted(self, query: AcceptedQuery) -> str | None:
        """The provider's message id when its log holds the message of ``query``; None when it does not.

        "None" means only "not in the log now": whether the log is complete for the moment the
        message was posted is the caller's to judge (``log_search``). Raises ProviderError when
        the log cannot be read. Adapters whose declaration names a ``log_search`` override it.
        """
        raise ProviderPermanent(f"{self.label or self.name} keeps no log that newsletter can search")

    def search(self, url: str, **kwargs: object) -> httpx.Response:
        """GET ``url`` (a path under ``base_url``, or a whole URL the provider gave) and return a 2xx.

        Mapped at this one boundary: 401/403 → permanent (the key); 429 → retryable; any other
        status, an answer we could not read or no connection → ambiguous. Keys stay out of the text.
        """
        assert self.client is not None, f"{self.name} needs an httpx.Client"
        full = url if url.startswith(("http://", "https://")) else self.base_url + url
        if not full.startswith(self.base_url + "/"):  # a next-page link elsewhere must not get our key
            raise ProviderAmbiguous(f"{self.name}: its log pointed to another address ({redact(full[:80])})")
        try:
            response = self.client.get(full, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise ProviderAmbiguous(
                f"{self.name}: could not read its log at {self.base_url} ({type(exc).__name__})"
            ) from exc
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status in (401, 403):
            raise ProviderPermanent(
                f"{self.name}: HTTP {status}: the API key was refused for reading the log — "
                "check the key's environment variable and that the key may read it"
            )
        if status == 429:
            raise ProviderRetryable(
                f"{self.name}: HTTP 429: too many look-ups, the provider asks us to slow down",
                retry_after=retry_after_seconds(response.headers),
            )
        raise ProviderAmbiguous(f"{self.name}: HTTP {status} {body_excerpt(response)} from its log search")

    # Statuses that, for this provider, prove the request was not processed (the batch may be
    # posted again without an idempotency key). 429 is documented as such by all four; a 5xx is
    # not: a gateway in front of the API answers 502/504 for requests the API did accept.
    not_processed: frozenset[int] = frozenset({429})

    @contextlib.contextmanager
    def building(self) -> Iterator[None]:
        """Around building a request: a failure there provably sent nothing, whatever it is."""
        try:
            yield
        except ProviderError:
            raise
        except Exception as exc:  # a bug or bad data in one message: nothing was posted
            raise ProviderPermanent(
                f"{self.name}: could not build the request, nothing was sent ({type(exc).__name__}: {exc})"
            ) from exc

    # Shared HTTP step: one place maps transport failures into the project's errors.
    def post(self, path: str, **kwargs: object) -> httpx.Response:
        assert self.client is not None, f"{self.name} needs an httpx.Client"
        url = self.base_url + path
        try:
            response = self.client.post(url, **kwargs)  # type: ignore[arg-type]
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # No connection was made (or none was free): not a byte of the request left.
            raise ProviderRetryable(f"{self.name}: could not connect to {self.base_url}: {exc}") from exc
        except (
            httpx.ReadTimeout,
            httpx.WriteTimeout,
            httpx.RemoteProtocolError,
            httpx.ReadError,
            httpx.WriteError,
        ) as exc:
            raise ProviderAmbiguous(
                f"{self.name}: connection to {self.base_url} failed after the request was sent "
                f"({type(exc).__name__}); the provider may have accepted it"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderAmbiguous(f"{self.name}: {type(exc).__name__}: {exc}") from exc
        self.raise_for_transport_status(response)
        return response

    def raise_for_transport_status(self, response: httpx.Response) -> None:
        """The answers every adapter reads alike; the rest is the adapter's to read.

        ``not_processed`` (429) → retryable; any other 5xx → ambiguous; a redirect →
        unreadable (ambiguous, and the run stops: it is the base URL); 401/403 → permanent.
        """
        status = response.status_code
        if status in self.not_processed:
            raise ProviderRetryable(
                f"{self.name}: HTTP {status} {body_excerpt(response)}",
                retry_after=retry_after_seconds(response.headers),
            )
        if status >= 500:
            raise ProviderAmbiguous(
                f"{self.name}: HTTP {status} {body_excerpt(response)} — a server error does not say whether "
                "the batch was accepted before it happened"
            )
        if 300 <= status < 400:
            raise UnreadableAnswer(
                f"{self.name}: HTTP {status} redirect to {redact(response.headers.get('location', '?'))} "
                f"from {self.base_url} — check [provider] base_url (use the https:// address)"
            )
        if status in (401, 403):
            raise ProviderPermanent(
                f"{self.name}: HTTP {status}: the API key was refused — check the key's environment variable"
            )

    def unreadable_success(self, response: httpx.Response, what: str) -> UnreadableAnswer:
        """A 2xx we cannot read: the batch may have gone out, so never "not sent"."""
        return UnreadableAnswer(
            f"{self.name}: HTTP {response.status_code} but {what} from {self.base_url} "
            f"({body_excerpt(response, 120)}) — it may have been delivered; check [provider] base_url"
        )


class ApiKeyProvider(Provider):
    """An HTTP API reached with one key (``credential``): the adapter needs no more settings than that."""

    # A base URL copied from the provider's documentation may end in the API version the adapter
    # adds itself ("/v3"): dropped, so both spellings work.
    documented_suffix: ClassVar[str] = ""

    def __init__(self, client: httpx.Client | None, base_url: str, *, api_key: str) -> None:
        trimmed = base_url.rstrip("/")
        if self.documented_suffix:
            trimmed = trimmed.removesuffix(self.documented_suffix)
        super().__init__(client=client, base_url=trimmed)
        self._api_key = api_key

    @classmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> Self:
        assert cls.credential is not None, f"{cls.name} names no credential"
        return cls(
            client or http_client(settings),
            settings.base_url or cls.default_base_url,
            api_key=cls.credential.require(),
        )

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"


# Past this, a number in a rate-limit header is an epoch time in milliseconds, not seconds
# (1e11 seconds is the year 5138; 1e11 milliseconds is 1973).
_EPOCH_MS_FROM = 1e11
# Past this a reset header holds an epoch time rather than a number of seconds (2001-09-09).
_EPOCH_S_FROM = 1e9


def _finite_seconds(value: float) -> float | None:
    if math.isnan(value):
        return None
    return max(0.0, value) if math.isfinite(value) else None


def _header_number(value: str) -> float | None:
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _epoch_or_seconds(number: float, now: float) -> float:
    if number >= _EPOCH_MS_FROM:
        return number / 1000.0 - now
    if number >= _EPOCH_S_FROM:
        return number - now
    return number


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` or a rate-limit reset header; None when none is readable.

    Parsed defensively — a header is the provider's (or a proxy's) text, not ours:
    seconds, an HTTP-date, an epoch time in seconds or milliseconds; negative
    values mean "now"; NaN, infinity and garbage are ignored. The result may be
    huge: the send engine caps it at ``[provider] max_wait_seconds``.
    """
    moment = time.time() if now is None else now
    value = (headers.get("retry-after") or "").strip()
    if value:
        number = _header_number(value)
        if number is not None:
            return _finite_seconds(number)
        with contextlib.suppress(TypeError, ValueError, OverflowError, IndexError):
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed.tzinfo is None:  # "-0000": UTC by RFC 5322
                parsed = parsed.replace(tzinfo=UTC)
            return _finite_seconds(parsed.timestamp() - moment)
    for name in ("ratelimit-reset", "x-ratelimit-reset"):
        number = _header_number(headers.get(name) or "")
        if number is not None:
            # An epoch timestamp or a number of seconds, depending on the provider.
            return _finite_seconds(_epoch_or_seconds(number, moment))
    return None


def body_excerpt(response: httpx.Response, limit: int = 200) -> str:
    """The response body on one line, trimmed, secrets removed; readable whatever its charset."""
    try:
        text = response.text
    except (UnicodeDecodeError, LookupError):  # an unknown or lying charset
        text = response.content.decode("utf-8", "replace")
    return redact(" ".join(text.split())[:limit])


def http_client(settings: ProviderSettings) -> httpx.Client:
    """An HTTP client with the configured timeout and a pool as large as the concurrency."""
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.concurrency, max_keepalive_connections=settings.concurrency
        ),
        headers={"User-Agent": "newsletter/0.1"},
    )
