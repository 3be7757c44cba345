"""The adapters: each declared provider's class that sends (and reads its webhook), loaded when asked for.

:mod:`newsletter.providers.catalogue` knows every provider by its declaration
(built-in ``<name>_declaration.py`` modules and plug-ins); this module loads
the adapter behind one — a built-in's from the module its declaration names
(``adapter_module``, whose ``PROVIDER`` is the class), a plug-in's is its
registered class — so a send loads its own provider's adapter only. Sending
and the web service ask here; reading the settings asks the catalogue.
"""

from __future__ import annotations

import importlib

import httpx

from newsletter.errors import ConfigError
from newsletter.providers import catalogue
from newsletter.providers.base import Provider
from newsletter.providers.settings import ProviderSettings


def provider_class(name: str) -> type[Provider]:
    """The adapter of the provider ``name``; a ConfigError that lists the declared names otherwise."""
    declared = catalogue.declaration(name)
    if issubclass(declared, Provider):  # a plug-in, or an adapter already in hand
        return declared
    if not declared.adapter_module:
        raise ConfigError(
            f"[provider] name: {name!r} declares no adapter — its plug-in must register a newsletter "
            "Provider class (see docs/providers.md, Write your own provider)"
        )
    adapter: type[Provider] = importlib.import_module(declared.adapter_module).PROVIDER
    return adapter


def registered() -> dict[str, type[Provider]]:
    """Every provider's adapter by name, in the catalogue's order (the web service's webhooks)."""
    return {name: provider_class(name) for name in catalogue.names()}


def make_provider(settings: ProviderSettings, client: httpx.Client | None = None) -> Provider:
    """The adapter ``[provider]`` names, its secrets read; ``client`` replaces its HTTP client (tests)."""
    return provider_class(settings.name).from_settings(settings, client)
