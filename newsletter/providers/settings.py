"""What ``[provider]`` in newsletter.toml holds, and the secrets a provider reads from the environment.

:class:`ProviderSettings` has the fields every provider shares (batch size,
pacing, timeouts); ``options`` holds the fields of the chosen provider alone,
read and checked by its class (:meth:`ProviderDeclaration.read_options`).

:class:`ProviderDeclaration` is what the settings know of a provider — its
name, batch maximum, default address, key and own fields — and nothing that
sends: reading newsletter.toml (every command does) loads no HTTP client, no
database layer and no adapter. Each built-in provider declares itself in
``<name>_declaration.py``, and its adapter class in ``<name>.py`` inherits the
declaration (:class:`newsletter.providers.base.Provider` is a declaration too).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

from newsletter.errors import ConfigError
from newsletter.secrets import declare_secret, get_secret
from newsletter.settings_reader import SettingsReader


@dataclass(frozen=True)
class SecretVariable:
    """An environment variable that holds a secret, and what a user should put in it."""

    name: str
    # Where the user finds the value, said in the error when it is missing.
    what: str

    def __post_init__(self) -> None:
        declare_secret(self.name)

    def value(self) -> str | None:
        return get_secret(self.name)

    def require(self, what: str = "") -> str:
        """The value, or a ConfigError naming the variable and what belongs in it (``what``, if more precise)."""
        value = self.value()
        if not value:
            raise ConfigError(
                f"{self.name} is not set — export {what or self.what}, e.g. export {self.name}=… "
                "(secrets are read from the environment only, never from newsletter.toml)"
            )
        return value


@dataclass(frozen=True)
class ProviderSettings:
    name: str = "outbox"
    base_url: str = ""
    batch_size: int = 100
    messages_per_second: float = 0.0  # 0: no pacing beyond the provider's own answers
    concurrency: int = 1
    max_attempts: int = 5
    timeout_seconds: float = 30.0
    # The longest a send waits when the provider says "retry after": a header can say anything.
    max_wait_seconds: float = 900.0
    # The chosen provider's own fields (mailgun_domain, smtp_host, …), as its class read them.
    options: Any = None


@dataclass(frozen=True)
class LogSearch:
    """A provider keeps a searchable log of what it accepted: how far it can be trusted.

    ``newsletter reconcile`` looks ``unknown`` rows up in it. Finding a message
    there proves it was accepted; *not* finding it proves nothing was accepted
    only for a moment the log is complete for — older than ``consistent_after``
    (the time the provider takes to make an accepted message searchable) and
    younger than ``kept_for`` (how long it keeps it; the shortest any plan keeps).
    """

    # The provider's own search, in words a user recognises (docs/providers.md says more).
    what: str
    consistent_after: timedelta
    kept_for: timedelta


class ProviderDeclaration:
    """A provider as the settings know it; :mod:`newsletter.providers.catalogue` finds them by ``name``."""

    # The value of ``[provider] name`` that chooses this provider, and how people call the provider.
    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    # Largest number of recipients one ``send_batch`` takes (the API's own limit per request).
    max_batch: ClassVar[int] = 1
    # The API's address when ``[provider] base_url`` is not set (EU hosts where there is a choice).
    default_base_url: ClassVar[str] = ""
    # The environment variable of the API key, and where a user finds one; None: no key needed.
    credential: ClassVar[SecretVariable | None] = None
    # The module whose ``PROVIDER`` is the adapter, loaded only to send or to read a webhook;
    # empty for a plug-in, whose registered class is the adapter itself.
    adapter_module: ClassVar[str] = ""
    # The log of accepted messages ``newsletter reconcile`` can search; None: it has none we can
    # use, and its ``unknown`` rows stay unknown (the adapter then has no ``find_accepted``).
    log_search: ClassVar[LogSearch | None] = None

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> object:
        """This provider's own ``[provider]`` fields (``reader`` reports bad ones); ``root``: the project."""
        return None
