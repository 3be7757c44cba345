"""Your SMTP relay as the settings know it: ``smtp_host``, port, security, username and password
(the adapter: :mod:`.smtp`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.providers.settings import ProviderDeclaration, SecretVariable
from newsletter.settings_reader import SettingsReader

PASSWORD = SecretVariable("NEWSLETTER_SMTP_PASSWORD", "the password of [provider] smtp_username")
SECURITY_CHOICES = ("starttls", "tls", "none")
# Plain SMTP (no TLS) only to a relay on this machine: elsewhere the password and mail cross a network.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class SmtpOptions:
    host: str
    port: int = 587
    security: str = "starttls"  # "tls": implicit TLS (port 465); "none": loopback only
    username: str = ""
    ca_file: Path | None = None  # a CA bundle to trust instead of the system's (own CA)


class SmtpDeclaration(ProviderDeclaration):
    name = "smtp"
    label = "your SMTP relay"
    # One SMTP transaction per message: a batch is only how many go between two ledger writes.
    max_batch = 100
    credential = PASSWORD
    adapter_module = "newsletter.providers.smtp"

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> SmtpOptions:
        security = reader.choice("provider", "smtp_security", SECURITY_CHOICES, default="starttls")
        host = reader.text("provider", "smtp_host", required=True)
        if security == "none" and host not in LOOPBACK_HOSTS:
            reader.errors.append(
                '[provider] smtp_security: "none" sends the password and mail unencrypted, so it is allowed '
                f"only for a relay on this machine (127.0.0.1 or localhost), not {host!r} — "
                'use "starttls" or "tls"'
            )
        ca_file = reader.text("provider", "smtp_ca_file")
        return SmtpOptions(
            host=host,
            port=reader.integer(
                "provider", "smtp_port", default=465 if security == "tls" else 587, low=1, high=65535
            ),
            security=security,
            username=reader.text("provider", "smtp_username"),
            ca_file=root / ca_file if ca_file else None,
        )


DECLARATION = SmtpDeclaration
