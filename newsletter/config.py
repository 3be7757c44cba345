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

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from newsletter.dates import LANGUAGES
from newsletter.errors import ConfigError
from newsletter.providers import catalogue
from newsletter.providers.settings import ProviderSettings
from newsletter.settings_reader import SettingsReader
from newsletter.workspace.settings import AdminSettings, read_admin_settings

CONFIG_ENV_VAR = "NEWSLETTER_CONFIG"
DEFAULT_CONFIG_NAME = "newsletter.toml"


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
class ServeSettings:
    """``[serve]``: whose word about a visitor's address the web service believes.

    ``trusted_proxies`` are the addresses or networks (``10.0.0.0/8``) of the reverse proxies
    whose ``X-Forwarded-For``/``X-Forwarded-Proto`` headers are believed; empty (the default)
    believes none, so nobody can choose the address the rate limits and the consent log see.
    """

    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrackingSettings:
    """``[tracking]``: engagement tracking, off unless the organisation turns it on (docs/privacy.md).

    ``clicks`` rewrites an issue's links through ``/c/TOKEN`` on ``newsletter serve`` (one token per
    link, the same for every reader) and counts the provider's click events; ``opens`` counts the
    provider's open events (a provider adds its open pixel only when told to in its own settings).
    """

    opens: bool = False
    clicks: bool = False


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
    # The time zone of the wall-clock times a user types (``newsletter send --at``) and is shown.
    timezone: str = "Europe/Copenhagen"
    database_url: str = "sqlite:///newsletter.db"
    # How long a batch in flight stays a worker's without a renewal (``[database] lease_seconds``):
    # a crashed worker's batch is recovered by another worker this long after its last heartbeat.
    lease_seconds: int = 60
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
    admin: AdminSettings = field(default_factory=AdminSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)

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
    reader = SettingsReader(data, path)
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
    timezone = reader.time_zone("defaults", "timezone", default="Europe/Copenhagen")

    database_url = reader.text("database", "url", default="sqlite:///newsletter.db")
    database_url = os.environ.get("NEWSLETTER_DATABASE_URL") or database_url
    database_url = _resolve_sqlite_path(database_url, base_dir)

    provider = _provider_settings(reader, base_dir)
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
        timezone=timezone,
        database_url=database_url,
        lease_seconds=reader.integer("database", "lease_seconds", default=60, low=2, high=3600),
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
        admin=read_admin_settings(reader),
        tracking=TrackingSettings(
            opens=reader.boolean("tracking", "opens", default=False),
            clicks=reader.boolean("tracking", "clicks", default=False),
        ),
    )
    reader.report_unknown(also_known=_every_provider_field(data, base_dir))
    reader.raise_if_errors()
    return settings


def _every_provider_field(data: dict[str, Any], base_dir: Path) -> set[tuple[str, str]]:
    """The ``[provider]`` fields of every declared provider, not only the chosen one's: a field
    kept for another provider (switched from, or kept for tests) is not a typo."""
    scratch = SettingsReader(data, None)
    for declared in catalogue.declared().values():
        declared.read_options(scratch, base_dir)
    return scratch.asked


def _provider_settings(reader: SettingsReader, base_dir: Path) -> ProviderSettings:
    """``[provider]``: the fields every provider shares, and the chosen one's own (its declaration reads them)."""
    name = reader.choice("provider", "name", catalogue.names(), default="outbox")
    provider = catalogue.declaration(name)
    max_batch = provider.max_batch
    return ProviderSettings(
        name=name,
        base_url=reader.url("provider", "base_url", default=provider.default_base_url),
        batch_size=reader.integer(
            "provider", "batch_size", default=min(100, max_batch), low=1, high=max_batch
        ),
        messages_per_second=reader.number("provider", "messages_per_second", default=0.0, low=0.0),
        concurrency=reader.integer("provider", "concurrency", default=1, low=1, high=64),
        max_attempts=reader.integer("provider", "max_attempts", default=5, low=1, high=100),
        timeout_seconds=reader.number("provider", "timeout_seconds", default=30.0, low=0.1),
        max_wait_seconds=reader.number("provider", "max_wait_seconds", default=900.0, low=0.0, high=86400.0),
        options=provider.read_options(reader, base_dir),
    )


def _resolve_sqlite_path(url: str, base_dir: Path) -> str:
    """Make a relative SQLite file path relative to the settings file's folder."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite://":
        rest = url[len(prefix) :]
        if rest and rest != ":memory:":
            return prefix + str((base_dir / rest).resolve())
    return url
