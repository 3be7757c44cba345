"""SendGrid as the settings know it: its API key (the adapter: :mod:`.sendgrid`)."""

from __future__ import annotations

from datetime import timedelta

from newsletter.providers.settings import LogSearch, ProviderDeclaration, SecretVariable

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
    # The Email Activity feed is filled from the same event stream as the webhooks, minutes behind;
    # half an hour of margin. The add-on keeps 30 days of history.
    log_search = LogSearch(
        "SendGrid's Email Activity API (a paid add-on)",
        consistent_after=timedelta(minutes=30),
        kept_for=timedelta(days=30),
    )


DECLARATION = SendGridDeclaration
