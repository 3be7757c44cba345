"""What every provider adapter speaks: the project's own message and result types.

A send hands an adapter one :class:`Batch`: the issue's content rendered once
(HTML and text with merge placeholders, see :mod:`newsletter.personalize`) and
a list of :class:`Recipient` s, each with the values to merge. Adapters that
must render each message (Postmark, Resend, the outbox) call
:func:`newsletter.personalize.merge`; adapters whose API merges per recipient
(SendGrid substitutions, Mailgun recipient-variables) translate the
placeholders into the provider's own syntax and send the content once.

The base class owns the steps — build the request, post it, read a result per
recipient — and maps transport failures into the three provider errors:

- :class:`ProviderRetryable`: the request provably never took effect (connect
  refused / connect timeout, 429, 5xx with no processing). Safe to retry.
- :class:`ProviderAmbiguous`: it may have taken effect (read timeout,
  connection dropped after the body was sent). Only an idempotency key
  (``Provider.idempotent``) makes a retry safe.
- :class:`ProviderPermanent`: refused as a whole (auth, malformed payload).

Per-recipient outcomes come back as :class:`RecipientResult` in the order of
``batch.recipients``.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from newsletter.errors import ProviderAmbiguous, ProviderPermanent, ProviderRetryable
from newsletter.safe_text import check_header_text


@dataclass(frozen=True)
class Content:
    """An issue rendered once: identical for every recipient but for the placeholders."""

    subject: str
    html: str
    text: str
    from_email: str
    from_name: str
    reply_to: str = ""
    issue: str = ""  # slug, carried in metadata / tags
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # The last guard before any provider: issue files and settings are checked when loaded,
        # but no path may hand an adapter a subject that forges headers ("\r\nBcc: …").
        for what, value in (
            ("Subject", self.subject),
            ("From name", self.from_name),
            ("From address", self.from_email),
            ("Reply-To", self.reply_to),
        ):
            check_header_text(value, what)


@dataclass(frozen=True)
class Recipient:
    """One addressee of a batch and the values merged into the content for them."""

    email: str
    name: str | None
    # Merge values by placeholder name (see newsletter.personalize.PLACEHOLDERS).
    values: Mapping[str, str]
    # Extra headers for this recipient, e.g. List-Unsubscribe and List-Unsubscribe-Post.
    headers: Mapping[str, str] = field(default_factory=dict)
    # Correlation data the provider hands back in webhooks: issue, subscriber, delivery ids.
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    content: Content
    recipients: Sequence[Recipient]
    # Stable for the life of the batch across retries and resumes (ledger batch_key).
    idempotency_key: str | None = None


class Outcome(enum.Enum):
    ACCEPTED = "accepted"  # the provider took it; message_id identifies it
    REJECTED = "rejected"  # permanent for this recipient; do not retry
    RETRY = "retry"  # temporary for this recipient; try again later


@dataclass(frozen=True)
class RecipientResult:
    outcome: Outcome
    message_id: str | None = None
    reason: str = ""
    # The address itself is bad or inactive: suppress it so it is never tried again.
    suppress: bool = False
    retry_after: float | None = None


class Provider(ABC):
    """An email provider's HTTP API (or the outbox folder) behind the project's types."""

    name: str = ""
    max_batch: int = 1
    # True when the API honours an idempotency key: an ambiguous batch may be resent.
    idempotent: bool = False

    def __init__(self, client: httpx.Client | None = None, base_url: str = "") -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        """Deliver ``batch``; one result per recipient, in order. Raises ProviderError."""

    def close(self) -> None:
        if self.client is not None:
            self.client.close()

    # Shared HTTP step: one place maps transport failures into the project's errors.
    def post(self, path: str, **kwargs: object) -> httpx.Response:
        assert self.client is not None, f"{self.name} needs an httpx.Client"
        url = self.base_url + path
        try:
            response = self.client.post(url, **kwargs)  # type: ignore[arg-type]
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
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
        """429 and 5xx are retryable for the whole batch; 401/403 are permanent."""
        status = response.status_code
        if status == 429 or status >= 500:
            raise ProviderRetryable(
                f"{self.name}: HTTP {status} {_short(response)}",
                retry_after=retry_after_seconds(response.headers),
            )
        if status in (401, 403):
            raise ProviderPermanent(
                f"{self.name}: HTTP {status}: the API key was refused — check the key's environment variable"
            )


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``Retry-After`` or a rate-limit reset header, if any."""
    import email.utils
    import time

    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value) if value else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    for name in ("ratelimit-reset", "x-ratelimit-reset"):
        value = headers.get(name)
        if value:
            try:
                number = float(value)
            except ValueError:
                continue
            # An epoch timestamp or a number of seconds, depending on the provider.
            return max(0.0, number - time.time()) if number > 1_000_000_000 else max(0.0, number)
    return None


def _short(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return text[:200]
