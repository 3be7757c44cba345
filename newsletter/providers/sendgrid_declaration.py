"""SendGrid as the settings know it: its API key (the adapter: :mod:`.sendgrid`)."""

from __future__ import annotations

from newsletter.providers.settings import ProviderDeclaration, SecretVariable

API_KEY = SecretVariable(
    "NEWSLETTER_SENDGRID_API_KEY", "a SendGrid API key with Mail Send permission (Settings → API Keys)"
)


class SendGridDeclaration(ProviderDeclaration):
    name = "sendgrid"
    label = "SendGrid"
    max_batch = 1000
    default_base_url = "https://api.sendgrid.com"
    credential = API_KEY
    adapter_module = "newsletter.providers.sendgrid"


DECLARATION = SendGridDeclaration
