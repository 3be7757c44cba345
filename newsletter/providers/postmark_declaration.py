"""Postmark as the settings know it: its token and ``[provider] message_stream`` (the adapter: :mod:`.postmark`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from newsletter.providers.settings import LogSearch, ProviderDeclaration, SecretVariable
from newsletter.settings_reader import SettingsReader

TOKEN = SecretVariable(
    "NEWSLETTER_POSTMARK_TOKEN", "the Server API token of your Postmark server (Servers → API Tokens)"
)


@dataclass(frozen=True)
class PostmarkOptions:
    message_stream: str = "broadcast"  # [provider] message_stream: the Broadcast stream of the server


class PostmarkDeclaration(ProviderDeclaration):
    name = "postmark"
    label = "Postmark"
    max_batch = 500
    default_base_url = "https://api.postmarkapp.com"
    credential = TOKEN
    adapter_module = "newsletter.providers.postmark"
    # Postmark documents no delay before a message is searchable (it is listed, "Queued", as soon
    # as it is accepted); five minutes of margin. Messages are kept 45 days by default, and a
    # server can be set to as few as 7.
    log_search = LogSearch(
        "Postmark's outbound message search",
        consistent_after=timedelta(minutes=5),
        kept_for=timedelta(days=7),
    )

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> PostmarkOptions:
        return PostmarkOptions(
            message_stream=reader.text("provider", "message_stream", default="broadcast", header=True)
        )


DECLARATION = PostmarkDeclaration
