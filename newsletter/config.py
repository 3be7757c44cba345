"""newsletter.toml + environment → one validated, immutable :class:`Settings`.

The file is found by ``--config PATH``, else ``$NEWSLETTER_CONFIG``, else
``newsletter.toml`` in the current directory. Relative paths inside it are
relative to the file's own folder, so the project can be run from anywhere.
Secrets are never read from the file: see :mod:`newsletter.secrets`.

Every wrong field is reported as one line naming the file, the field and the
fix; all wrong fields are collected before raising so a user fixes them in
one pass.
"""

from __future__ import annotations

import ipaddress
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from email_validator import EmailNotValidError, validate_email

from newsletter.errors import ConfigError
from newsletter.safe_text import header_text_problem

CONFIG_ENV_VAR = "NEWSLETTER_CONFIG"
DEFAULT_CONFIG_NAME = "newsletter.toml"
LANGUAGES = ("da", "en")
PROVIDERS = ("outbox", "postmark", "sendgrid", "mailgun", "resend", "smtp", "brevo")
SMTP_SECURITY = ("starttls", "tls", "none")
# Plain SMTP (no TLS) only to a relay on this machine: elsewhere the password and mail cross a network.
SMTP_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")

# Largest batch each provider's API accepts in one request.
PROVIDER_MAX_BATCH = {
    "outbox": 1000,
    "postmark": 500,
    "sendgrid": 1000,
    "mailgun": 1000,
    "resend": 100,
    "smtp": 100,
    "brevo": 100,  # messages per ledger batch: Brevo takes one message per request (see providers/brevo.py)
}
PROVIDER_DEFAULT_BASE_URL = {
    "outbox": "",
    "postmark": "https://api.postmarkapp.com",
    "sendgrid": "https://api.sendgrid.com",
    "mailgun": "https://api.mailgun.net",
    "resend": "https://api.resend.com",
    "smtp": "",
    "brevo": "https://api.brevo.com",
}


@dataclass(frozen=True)
class Organisation:
    name: str
    address: str
    website: str = ""
    logo_url: str = ""


@dataclass(frozen=True)
class Sender:
    name: str
    email: str
    reply_to: str = ""
    # Mailbox that receives List-Unsubscribe mailto: requests.
    unsubscribe_mailto: str = ""


@dataclass(frozen=True)
class ProviderSettings:
    name: str = "outbox"
    base_url: str = ""
    outbox_dir: Path = Path("outbox")
    mailgun_domain: str = ""
    batch_size: int = 100
    messages_per_second: float = 0.0  # 0: no pacing beyond the provider's own answers
    concurrency: int = 1
    max_attempts: int = 5
    timeout_seconds: float = 30.0
    message_stream: str = "broadcast"  # Postmark stream for newsletters
    # The longest a send waits when the provider says "retry after": a header can say anything.
    max_wait_seconds: float = 900.0
    # The organisation's own relay (name = "smtp"); the password is NEWSLETTER_SMTP_PASSWORD.
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_security: str = "starttls"  # "tls": implicit TLS (port 465); "none": loopback only
    smtp_username: str = ""
    smtp_ca_file: Path | None = None  # a CA bundle to trust instead of the system's (own CA)

    @property
    def max_batch(self) -> int:
        return PROVIDER_MAX_BATCH[self.name]


@dataclass(frozen=True)
class ServeSettings:
    """``[serve]``: whose word about a visitor's address the web service believes.

    ``trusted_proxies`` are the addresses or networks (``10.0.0.0/8``) of the reverse proxies
    whose ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed; empty (the default)
    believes none, so nobody can choose the address the rate limits and the consent log see.
    """

    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class SampleRecipient:
    email: str = "modtager@example.com"
    name: str = "Jens Hansen"


@dataclass(frozen=True)
class Settings:
    path: Path | None
    root: Path
    organisation: Organisation
    sender: Sender
    base_url: str
    language: str = "da"
    template: str = "newsletter"
    default_list: str = "erhverv"
    database_url: str = "sqlite:///newsletter.db"
    issues_dir: Path = Path("issues")
    templates_dir: Path = Path("templates")
    build_dir: Path = Path("build")
    provider: ProviderSettings = field(default_factory=ProviderSettings)
    sample: SampleRecipient = field(default_factory=SampleRecipient)
    confirm_days: int = 7
    # How far a webhook's signed timestamp may be from now, either way. Outside it the request is
    # refused: Mailgun signs only timestamp + token, so freshness (with one-time tokens) is what
    # stops a captured signature from carrying other events later.
    webhook_tolerance_seconds: int = 300
    serve: ServeSettings = field(default_factory=ServeSettings)

    def url(self, path: str) -> str:
        """An absolute public URL for ``path`` under the configured base URL."""
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")


def find_config(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load_settings(explicit: str | os.PathLike[str] | None = None) -> Settings:
    """Read and validate the settings file; raise :class:`ConfigError` on any problem."""
    path = find_config(explicit)
    try:
        raw_bytes = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: settings file not found — create it (see README) or pass --config PATH"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings file: {exc.strerror}") from exc
    try:
        data = tomllib.loads(raw_bytes.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text — save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return settings_from_dict(data, path=path.resolve())


def settings_from_dict(
    data: dict[str, Any], *, path: Path | None = None, root: Path | None = None
) -> Settings:
    """Validate a parsed settings mapping. ``root`` resolves relative paths."""
    reader = _Reader(data, path)
    base_dir = root or (path.parent if path else Path.cwd())

    organisation = Organisation(
        name=reader.text("organisation", "name", required=True, header=True),
        address=reader.text("organisation", "address", required=True),
        website=reader.url("organisation", "website"),
        logo_url=reader.url("organisation", "logo_url"),
    )
    sender = Sender(
        name=reader.text("sender", "name", required=True, header=True),
        email=reader.email("sender", "email", required=True),
        reply_to=reader.email("sender", "reply_to"),
        unsubscribe_mailto=reader.email("sender", "unsubscribe_mailto"),
    )
    base_url = reader.url("site", "base_url", required=True)
    language = reader.choice("defaults", "language", LANGUAGES, default="da")
    template = reader.text("defaults", "template", default="newsletter")
    default_list = reader.text("defaults", "list", default="erhverv")

    database_url = reader.text("database", "url", default="sqlite:///newsletter.db")
    database_url = os.environ.get("NEWSLETTER_DATABASE_URL") or database_url
    database_url = _resolve_sqlite_path(database_url, base_dir)

    provider_name = reader.choice("provider", "name", PROVIDERS, default="outbox")
    max_batch = PROVIDER_MAX_BATCH.get(provider_name, 100)
    smtp_security = reader.choice("provider", "smtp_security", SMTP_SECURITY, default="starttls")
    smtp_host = reader.text("provider", "smtp_host", required=provider_name == "smtp")
    if provider_name == "smtp" and smtp_security == "none" and smtp_host not in SMTP_LOOPBACK_HOSTS:
        reader.errors.append(
            f'[provider] smtp_security: "none" sends the password and mail unencrypted, so it is allowed only '
            f'for a relay on this machine (127.0.0.1 or localhost), not {smtp_host!r} — use "starttls" or "tls"'
        )
    smtp_ca_file = reader.text("provider", "smtp_ca_file")
    provider = ProviderSettings(
        name=provider_name,
        base_url=reader.url("provider", "base_url", default=PROVIDER_DEFAULT_BASE_URL.get(provider_name, "")),
        outbox_dir=base_dir / reader.text("provider", "outbox_dir", default="outbox"),
        mailgun_domain=reader.text(
            "provider", "mailgun_domain", required=provider_name == "mailgun", header=True
        ),
        batch_size=reader.integer(
            "provider", "batch_size", default=min(100, max_batch), low=1, high=max_batch
        ),
        messages_per_second=reader.number("provider", "messages_per_second", default=0.0, low=0.0),
        concurrency=reader.integer("provider", "concurrency", default=1, low=1, high=64),
        max_attempts=reader.integer("provider", "max_attempts", default=5, low=1, high=100),
        timeout_seconds=reader.number("provider", "timeout_seconds", default=30.0, low=0.1),
        message_stream=reader.text("provider", "message_stream", default="broadcast", header=True),
        max_wait_seconds=reader.number("provider", "max_wait_seconds", default=900.0, low=0.0, high=86400.0),
        smtp_host=smtp_host,
        smtp_port=reader.integer(
            "provider", "smtp_port", default=465 if smtp_security == "tls" else 587, low=1, high=65535
        ),
        smtp_security=smtp_security,
        smtp_username=reader.text("provider", "smtp_username"),
        smtp_ca_file=base_dir / smtp_ca_file if smtp_ca_file else None,
    )
    sample = SampleRecipient(
        email=reader.email("sample", "email", default="modtager@example.com"),
        name=reader.text("sample", "name", default="Jens Hansen", header=True),
    )
    settings = Settings(
        path=path,
        root=base_dir,
        organisation=organisation,
        sender=sender,
        base_url=base_url,
        language=language,
        template=template,
        default_list=default_list,
        database_url=database_url,
        issues_dir=base_dir / reader.text("paths", "issues", default="issues"),
        templates_dir=base_dir / reader.text("paths", "templates", default="templates"),
        build_dir=base_dir / reader.text("paths", "build", default="build"),
        provider=provider,
        sample=sample,
        confirm_days=reader.integer("subscribe", "confirm_days", default=7, low=1, high=90),
        webhook_tolerance_seconds=reader.integer(
            "webhooks", "tolerance_seconds", default=300, low=10, high=3600
        ),
        serve=ServeSettings(
            trusted_proxies=reader.networks("serve", "trusted_proxies"),
        ),
    )
    reader.raise_if_errors()
    return settings


def _resolve_sqlite_path(url: str, base_dir: Path) -> str:
    """Make a relative SQLite file path relative to the settings file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        rest = url[len(prefix) :]
        if rest and rest != ":memory:":
            return prefix + str((base_dir / rest).resolve())
    return url


class _Reader:
    """Reads typed fields out of the TOML tables, collecting one error per bad field."""

    def __init__(self, data: dict[str, Any], path: Path | None) -> None:
        self.data = data
        self.where = str(path) if path else "settings"
        self.errors: list[str] = []

    def _raw(self, table: str, key: str) -> Any:
        section = self.data.get(table, {})
        if not isinstance(section, dict):
            problem = f"[{table}] must be a table, e.g. '[{table}]' on its own line"
            if problem not in self.errors:
                self.errors.append(problem)
            return None
        return section.get(key)

    def _fail(self, table: str, key: str, problem: str) -> None:
        self.errors.append(f"[{table}] {key}: {problem}")

    def text(
        self, table: str, key: str, *, required: bool = False, default: str = "", header: bool = False
    ) -> str:
        """A text field; ``header`` marks one that ends up in a mail header (From, Reply-To, …)."""
        value = self._raw(table, key)
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            if required:
                self._fail(table, key, f'is required — add {key} = "…" under [{table}]')
            return default
        if not isinstance(value, str):
            self._fail(table, key, f"must be a text string in quotes, not {value!r}")
            return default
        problem = header_text_problem(value) if header else None
        if problem is not None:
            # A line break in From or Reply-To would let the settings file forge headers.
            self._fail(
                table,
                key,
                f"{problem}, which a mail header cannot carry — write it on one line "
                "in plain quotes, without \\n, \\r or \\t",
            )
            return default
        return value

    def email(self, table: str, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.text(table, key, required=required, default=default, header=True)
        if not value:
            return value
        try:
            return validate_email(value, check_deliverability=False).normalized
        except EmailNotValidError as exc:
            self._fail(table, key, f"{value!r} is not a valid email address ({exc})")
            return default

    def url(self, table: str, key: str, *, required: bool = False, default: str = "") -> str:
        value = self.text(table, key, required=required, default=default)
        if not value:
            return value
        parsed = urlparse(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            self._fail(
                table,
                key,
                f"{value!r} is not an absolute http(s) URL — write e.g. https://example.dk",
            )
            return default
        return value.rstrip("/")

    def choice(self, table: str, key: str, options: tuple[str, ...], *, default: str) -> str:
        value = self.text(table, key, default=default)
        if value not in options:
            self._fail(table, key, f"{value!r} is not one of: {', '.join(options)}")
            return default
        return value

    def integer(self, table: str, key: str, *, default: int, low: int, high: int) -> int:
        value = self._raw(table, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(table, key, f"must be a whole number, not {value!r}")
            return default
        if not low <= value <= high:
            self._fail(table, key, f"{value} is out of range — use {low} to {high}")
            return default
        return value

    def number(self, table: str, key: str, *, default: float, low: float, high: float | None = None) -> float:
        value = self._raw(table, key)
        if value is None:
            return default
        # TOML allows nan and inf; neither is a usable rate, timeout or wait.
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            self._fail(table, key, f"must be a number, not {value!r}")
            return default
        if value < low:
            self._fail(table, key, f"{value} is too small — use at least {low}")
            return default
        if high is not None and value > high:
            self._fail(table, key, f"{value} is too large — use at most {high}")
            return default
        return float(value)

    def networks(self, table: str, key: str) -> tuple[str, ...]:
        """A list of IP addresses or networks, e.g. ``["127.0.0.1", "10.0.0.0/8"]``."""
        value = self._raw(table, key)
        if value is None:
            return ()
        example = f'write e.g. {key} = ["127.0.0.1"] under [{table}]'
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            self._fail(table, key, f"must be a list of addresses in quotes, not {value!r} — {example}")
            return ()
        found: list[str] = []
        for item in value:
            try:
                found.append(str(ipaddress.ip_network(item.strip(), strict=False)))
            except ValueError:
                self._fail(table, key, f"{item!r} is not an IP address or network — {example}")
                return ()
        return tuple(found)

    def raise_if_errors(self) -> None:
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise ConfigError(f"{self.where}: {self.errors[0]}")
        listed = "; ".join(self.errors)
        raise ConfigError(f"{self.where}: {len(self.errors)} problems: {listed}")
