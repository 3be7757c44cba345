"""Postmark as the settings know it: its token and ``[provider] message_stream`` (the adapter: :mod:`.postmark`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.providers.settings import ProviderDeclaration, SecretVariable
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

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> PostmarkOptions:
        return PostmarkOptions(
            message_stream=reader.text("provider", "message_stream", default="broadcast", header=True)
        )


DECLARATION = PostmarkDeclaration
