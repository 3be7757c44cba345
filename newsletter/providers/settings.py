"""What ``[provider]`` in newsletter.toml holds, and the secrets a provider reads from the environment.

:class:`ProviderSettings` has the fields every provider shares (batch size,
pacing, timeouts); ``options`` holds the fields of the chosen provider alone,
read and checked by its class (:meth:`newsletter.providers.base.Provider.read_options`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from newsletter.errors import ConfigError
from newsletter.secrets import declare_secret, get_secret


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
