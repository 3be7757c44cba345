"""Email provider adapters behind one interface (:mod:`newsletter.providers.base`).

:func:`make_provider` builds the adapter named in ``[provider] name`` of
newsletter.toml with its base URL (EU hosts, or a local emulator in tests),
its timeout, and the API key from the environment:

============  ==================================  ================================
provider      environment variable                 default base URL
============  ==================================  ================================
outbox        (none)                               (writes files, no network)
postmark      ``NEWSLETTER_POSTMARK_TOKEN``        https://api.postmarkapp.com
sendgrid      ``NEWSLETTER_SENDGRID_API_KEY``      https://api.sendgrid.com
mailgun       ``NEWSLETTER_MAILGUN_API_KEY``       https://api.mailgun.net
resend        ``NEWSLETTER_RESEND_API_KEY``        https://api.resend.com
smtp          ``NEWSLETTER_SMTP_PASSWORD``         (``smtp_host``: your own relay)
brevo         ``NEWSLETTER_BREVO_API_KEY``         https://api.brevo.com
============  ==================================  ================================

Keys are read through :func:`newsletter.secrets.get_secret` and handed to the
adapter only; they are never part of a repr, a log line or an error message.
"""

from __future__ import annotations

import httpx

from newsletter.config import PROVIDER_DEFAULT_BASE_URL, PROVIDERS, Settings
from newsletter.errors import ConfigError
from newsletter.providers.base import Provider
from newsletter.secrets import get_secret

CREDENTIAL_ENV_VARS: dict[str, str] = {
    "postmark": "NEWSLETTER_POSTMARK_TOKEN",
    "sendgrid": "NEWSLETTER_SENDGRID_API_KEY",
    "mailgun": "NEWSLETTER_MAILGUN_API_KEY",
    "resend": "NEWSLETTER_RESEND_API_KEY",
    "brevo": "NEWSLETTER_BREVO_API_KEY",
}
_WHERE_TO_FIND = {
    "postmark": "the Server API token of your Postmark server (Servers → API Tokens)",
    "sendgrid": "a SendGrid API key with Mail Send permission (Settings → API Keys)",
    "mailgun": "your Mailgun private API key (Settings → API Keys)",
    "resend": "a Resend API key with sending access (API Keys)",
    "brevo": "a Brevo API v3 key (SMTP & API → API Keys)",
}


def credential(provider: str) -> str:
    """The provider's API key from the environment, or a ConfigError naming the variable."""
    variable = CREDENTIAL_ENV_VARS[provider]
    value = get_secret(variable)
    if not value:
        raise ConfigError(
            f"{variable} is not set — export {_WHERE_TO_FIND[provider]}, e.g. "
            f"export {variable}=… (keys are read from the environment only, never from newsletter.toml)"
        )
    return value


def make_client(settings: Settings) -> httpx.Client:
    """An HTTP client with the configured timeout and a pool as large as the concurrency."""
    provider = settings.provider
    return httpx.Client(
        timeout=httpx.Timeout(provider.timeout_seconds),
        limits=httpx.Limits(
            max_connections=provider.concurrency, max_keepalive_connections=provider.concurrency
        ),
        headers={"User-Agent": "newsletter/0.1"},
    )


def make_provider(settings: Settings, client: httpx.Client | None = None) -> Provider:
    """The adapter for ``settings.provider``; ``client`` replaces the default HTTP client (tests)."""
    provider = settings.provider
    name = provider.name
    if name == "outbox":
        from newsletter.providers.outbox import OutboxProvider

        return OutboxProvider(provider.outbox_dir)
    if name == "smtp":
        from newsletter.providers.smtp import PASSWORD_VARIABLE, SmtpProvider, SmtpServer

        server = SmtpServer(
            provider.smtp_host, provider.smtp_port, provider.smtp_security, provider.smtp_username,
            provider.timeout_seconds, provider.smtp_ca_file,
        )  # fmt: skip
        password = get_secret(PASSWORD_VARIABLE)
        if provider.smtp_username and not password:
            # Said before any summary or question (send's credential check), not at the first batch.
            raise ConfigError(
                f"{PASSWORD_VARIABLE} is not set — export the password of smtp_username "
                f"{provider.smtp_username!r}, e.g. export {PASSWORD_VARIABLE}=… "
                "(passwords are read from the environment only, never from newsletter.toml)"
            )
        return SmtpProvider(server, password=password)
    if name not in CREDENTIAL_ENV_VARS:
        raise ConfigError(f"[provider] name: unknown provider {name!r}")
    key = credential(name)
    base_url = provider.base_url or PROVIDER_DEFAULT_BASE_URL[name]
    http = client if client is not None else make_client(settings)
    if name == "postmark":
        from newsletter.providers.postmark import PostmarkProvider

        return PostmarkProvider(http, base_url, server_token=key, message_stream=provider.message_stream)
    if name == "sendgrid":
        from newsletter.providers.sendgrid import SendGridProvider

        return SendGridProvider(http, base_url, api_key=key)
    if name == "mailgun":
        from newsletter.providers.mailgun import MailgunProvider

        if not provider.mailgun_domain:
            raise ConfigError(
                '[provider] mailgun_domain: is required for Mailgun — add mailgun_domain = "mg.example.dk"'
            )
        return MailgunProvider(http, base_url, api_key=key, domain=provider.mailgun_domain)
    if name == "brevo":
        from newsletter.providers.brevo import BrevoProvider

        return BrevoProvider(http, base_url, api_key=key)
    if name == "resend":
        from newsletter.providers.resend import ResendProvider

        return ResendProvider(http, base_url, api_key=key)
    # A name with a credential but no adapter here must never fall through to another provider.
    raise ConfigError(f"[provider] name: no adapter for {name!r} — use one of: {', '.join(PROVIDERS)}")
