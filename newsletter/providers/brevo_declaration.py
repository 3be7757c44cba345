"""Brevo as the settings know it: its API key (the adapter: :mod:`.brevo`)."""

from __future__ import annotations

from newsletter.providers.settings import ProviderDeclaration, SecretVariable

API_KEY = SecretVariable("NEWSLETTER_BREVO_API_KEY", "a Brevo API v3 key (SMTP & API → API Keys)")


class BrevoDeclaration(ProviderDeclaration):
    name = "brevo"
    label = "Brevo"
    # Messages handed over per ledger batch; each is its own request (see the adapter's docstring).
    max_batch = 100
    default_base_url = "https://api.brevo.com"  # Brevo's only API host; its data centres are in the EU
    credential = API_KEY
    adapter_module = "newsletter.providers.brevo"


DECLARATION = BrevoDeclaration
