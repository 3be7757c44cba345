"""Which providers exist: the project's own adapters and any installed as plug-ins.

A built-in provider is a module of this package that names its class in
``PROVIDER``; a third party's is a package that registers its class under the
entry-point group :data:`ENTRY_POINT_GROUP` in its own ``pyproject.toml``::

    [project.entry-points."newsletter.providers"]
    acme = "newsletter_acme:AcmeProvider"

Config, secrets, recovery and the web service ask this registry and name no
provider themselves. A plug-in may not take a built-in's name: the built-in
keeps it and the plug-in is skipped with a warning in the log.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

import httpx

from newsletter import providers as package
from newsletter.errors import ConfigError
from newsletter.providers.base import Provider
from newsletter.providers.settings import ProviderSettings

ENTRY_POINT_GROUP = "newsletter.providers"
log = logging.getLogger("newsletter.providers")


def _built_in() -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        if module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        provider = getattr(module, "PROVIDER", None)
        if provider is not None:
            found[provider.name] = provider
    return found


def _plug_ins(taken: set[str]) -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            provider = entry.load()
        except Exception as exc:  # a broken plug-in must not stop the providers that work
            log.warning("provider plug-in %r (%s) could not be loaded: %s", entry.name, entry.value, exc)
            continue
        if not (isinstance(provider, type) and issubclass(provider, Provider)) or provider.name != entry.name:
            log.warning(
                "provider plug-in %r (%s) is skipped: it must be a newsletter Provider class whose name is %r",
                entry.name, entry.value, entry.name,
            )  # fmt: skip
            continue
        if entry.name in taken or entry.name in found:
            log.warning("provider plug-in %r (%s) is skipped: that name is taken", entry.name, entry.value)
            continue
        found[entry.name] = provider
    return found


@functools.cache
def registered() -> dict[str, type[Provider]]:
    """Every provider by name: the built-in ones first, then plug-ins, each group sorted."""
    built_in = _built_in()
    plug_ins = _plug_ins(set(built_in))
    return {name: found[name] for found in (built_in, plug_ins) for name in sorted(found)}


def names() -> tuple[str, ...]:
    return tuple(registered())


def provider_class(name: str) -> type[Provider]:
    """The class registered as ``name``; a ConfigError that lists the registered names otherwise."""
    try:
        return registered()[name]
    except KeyError:
        raise ConfigError(
            f"[provider] name: unknown provider {name!r} — use one of: {', '.join(names())}"
        ) from None


def make_provider(settings: ProviderSettings, client: httpx.Client | None = None) -> Provider:
    """The adapter ``[provider]`` names, its secrets read; ``client`` replaces its HTTP client (tests)."""
    return provider_class(settings.name).from_settings(settings, client)
