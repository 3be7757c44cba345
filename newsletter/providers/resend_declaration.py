"""Resend as the settings know it: its API key (the adapter: :mod:`.resend`)."""

from __future__ import annotations

from newsletter.providers.settings import ProviderDeclaration, SecretVariable

API_KEY = SecretVariable("NEWSLETTER_RESEND_API_KEY", "a Resend API key with sending access (API Keys)")


class ResendDeclaration(ProviderDeclaration):
    name = "resend"
    label = "Resend"
    max_batch = 100
    default_base_url = "https://api.resend.com"
    credential = API_KEY
    adapter_module = "newsletter.providers.resend"


DECLARATION = ResendDeclaration
