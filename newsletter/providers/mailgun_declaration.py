"""Mailgun as the settings know it: its API key and ``[provider] mailgun_domain`` (the adapter: :mod:`.mailgun`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from newsletter.providers.settings import LogSearch, ProviderDeclaration, SecretVariable
from newsletter.settings_reader import SettingsReader

API_KEY = SecretVariable("NEWSLETTER_MAILGUN_API_KEY", "your Mailgun private API key (Settings → API Keys)")


@dataclass(frozen=True)
class MailgunOptions:
    domain: str  # [provider] mailgun_domain: the sending domain, e.g. mg.example.dk


class MailgunDeclaration(ProviderDeclaration):
    name = "mailgun"
    label = "Mailgun"
    max_batch = 1000
    default_base_url = "https://api.mailgun.net"  # EU accounts: EU_BASE_URL
    credential = API_KEY
    adapter_module = "newsletter.providers.mailgun"
    # Mailgun's event polling guidance: an event may take up to half an hour to be searchable.
    # Events are kept one day on free plans (up to 30 on paid ones): one day is what we rely on.
    log_search = LogSearch(
        "Mailgun's events API",
        consistent_after=timedelta(minutes=30),
        kept_for=timedelta(days=1),
    )

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> MailgunOptions:
        return MailgunOptions(domain=reader.text("provider", "mailgun_domain", required=True, header=True))


DECLARATION = MailgunDeclaration
