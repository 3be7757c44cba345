"""The message model: what one email is made of, below composing, sending, the web and the providers.

- :class:`Content`: an issue (or system email) rendered once, with merge placeholders.
- :class:`Recipient`: one addressee, the values merged for them, their headers and metadata.
- :class:`Batch`: what a provider adapter is handed: content and recipients.
- :func:`content_fingerprint`: what recipients would get, as one hash.

Plain data that imports nothing of the project but the header check, so that
even the settings (which know the providers) sit above it. Each recipient's
pieces are built in :mod:`newsletter.per_recipient`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

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


def content_fingerprint(content: Content) -> str:
    """The SHA-256 of what recipients would get: subject, HTML and text as rendered.

    An approval is for one fingerprint; a planned send keeps the one it froze, so an issue
    edited since is recognised.
    """
    digest = hashlib.sha256()
    for part in (content.subject, content.html, content.text):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Recipient:
    """One addressee of a batch and the values merged into the content for them."""

    email: str
    name: str | None
    # Merge values by placeholder name, from merge_values().
    values: Mapping[str, str]
    # Extra headers for this recipient: List-Unsubscribe and List-Unsubscribe-Post (theirs),
    # List-Id and Feedback-ID (the same for everyone of a send).
    headers: Mapping[str, str] = field(default_factory=dict)
    # Correlation data the provider hands back in webhooks: issue, subscriber, delivery ids.
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Batch:
    """The unit a provider adapter is handed: the content once, and who gets it."""

    content: Content
    recipients: Sequence[Recipient]
    # Stable for the life of the batch across retries and resumes (ledger batch_key).
    idempotency_key: str | None = None
