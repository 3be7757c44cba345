"""Which providers exist, as the settings know them, without loading an adapter.

A built-in provider declares itself in ``newsletter/providers/<name>_declaration.py``
(``DECLARATION = TheDeclaration``, see
:class:`~newsletter.providers.settings.ProviderDeclaration`); its adapter, loaded
only to send or to read a webhook, is the ``PROVIDER`` of the module the
declaration names (:mod:`newsletter.providers.registry` loads it). A third
party's provider is a class registered under the entry-point group
:data:`ENTRY_POINT_GROUP` in its own ``pyproject.toml``::

    [project.entry-points."newsletter.providers"]
    acme = "newsletter_acme:AcmeProvider"

That class is its declaration and its adapter at once. Config, secrets and the
workspace ask this catalogue and name no provider themselves; reading
newsletter.toml therefore loads no HTTP client, no database layer and no
adapter (a plug-in's class is loaded, with whatever it imports). A plug-in may
not take a built-in's name: the built-in keeps it and the plug-in is skipped
with a warning in the log.
"""

from __future__ import annotations

import functools
import importlib
import logging
import pkgutil
from importlib.metadata import entry_points

from newsletter import providers as package
from newsletter.errors import ConfigError
from newsletter.providers.settings import ProviderDeclaration

ENTRY_POINT_GROUP = "newsletter.providers"
DECLARATION_SUFFIX = "_declaration"
log = logging.getLogger("newsletter.providers")


def _built_in() -> dict[str, type[ProviderDeclaration]]:
    found: dict[str, type[ProviderDeclaration]] = {}
    for module_info in pkgutil.iter_modules(package.__path__):
        if not module_info.name.endswith(DECLARATION_SUFFIX):
            continue
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        declaration: type[ProviderDeclaration] = module.DECLARATION
        found[declaration.name] = declaration
    return found


def _plug_ins(taken: set[str]) -> dict[str, type[ProviderDeclaration]]:
    found: dict[str, type[ProviderDeclaration]] = {}
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            provider = entry.load()
        except Exception as exc:  # a broken plug-in must not stop the providers that work
            log.warning("provider plug-in %r (%s) could not be loaded: %s", entry.name, entry.value, exc)
            continue
        if (
            not (isinstance(provider, type) and issubclass(provider, ProviderDeclaration))
            or provider.name != entry.name
        ):
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
def declared() -> dict[str, type[ProviderDeclaration]]:
    """Every provider by name: the built-in ones first, then plug-ins, each group sorted."""
    built_in = _built_in()
    plug_ins = _plug_ins(set(built_in))
    return {name: found[name] for found in (built_in, plug_ins) for name in sorted(found)}


def names() -> tuple[str, ...]:
    return tuple(declared())


def declaration(name: str) -> type[ProviderDeclaration]:
    """The provider declared as ``name``; a ConfigError that lists the declared names otherwise."""
    try:
        return declared()[name]
    except KeyError:
        raise ConfigError(
            f"[provider] name: unknown provider {name!r} — use one of: {', '.join(names())}"
        ) from None
