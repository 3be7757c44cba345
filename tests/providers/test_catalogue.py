"""The catalogue knows every provider from its declaration; the registry loads the adapter behind one.

Reading newsletter.toml (every command does) asks the catalogue only, so it
loads no adapter, HTTP client or database layer; a send or a webhook loads
the adapter, which is its declaration plus how it sends.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

from newsletter import providers as package
from newsletter.errors import ConfigError
from newsletter.providers import catalogue, registry
from newsletter.providers.base import Provider
from newsletter.providers.settings import ProviderDeclaration
from tests.conftest import REPO

BUILT_IN = ("outbox", "postmark", "sendgrid", "mailgun", "resend", "brevo", "smtp", "ses")


def _adapter_modules() -> dict[str, type[Provider]]:
    """Every module of the package that names an adapter in ``PROVIDER``, by module name."""
    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        adapter = getattr(module, "PROVIDER", None)
        if adapter is not None:
            found[module.__name__] = adapter
    return found


def test_every_built_in_provider_is_declared_and_its_adapter_inherits_the_declaration() -> None:
    declared = catalogue.declared()
    assert sorted(declared) == sorted(BUILT_IN)
    adapters = _adapter_modules()
    # Each declaration names its adapter's module, and no adapter is left without a declaration.
    assert sorted(d.adapter_module for d in declared.values()) == sorted(adapters)
    for name, declaration in declared.items():
        adapter = registry.provider_class(name)
        assert adapter is adapters[declaration.adapter_module]
        assert issubclass(adapter, declaration) and issubclass(adapter, Provider)
        assert adapter.name == name and adapter.max_batch == declaration.max_batch
        assert not issubclass(declaration, Provider), f"{name}'s declaration must not be the adapter"


def test_the_registry_lists_every_adapter_in_the_catalogue_s_order() -> None:
    assert tuple(registry.registered()) == catalogue.names()
    assert all(issubclass(adapter, Provider) for adapter in registry.registered().values())


def test_an_unknown_provider_is_one_line_listing_the_known_ones() -> None:
    for ask in (catalogue.declaration, registry.provider_class):
        with pytest.raises(ConfigError) as caught:
            ask("mailchimp")
        assert "unknown provider 'mailchimp' — use one of: brevo, mailgun, outbox, " in str(caught.value)


LOAD_SETTINGS = """
import sys
from newsletter.config import load_settings
load_settings(sys.argv[1])
print(" ".join(sorted(sys.modules)))
"""


def test_reading_the_settings_loads_no_adapter(tmp_path: Path) -> None:
    settings = (REPO / "newsletter.toml").read_text(encoding="utf-8")
    path = tmp_path / "newsletter.toml"
    # SES: the provider whose adapter pulls in the most (botocore), with its own fields.
    ses = settings.replace('name = "outbox"', 'name = "ses"\nses_region = "eu-west-1"')
    path.write_text(ses.replace("batch_size = 100", "batch_size = 50"), encoding="utf-8")
    assert 'name = "ses"' in path.read_text(encoding="utf-8")
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_SETTINGS, str(path)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    ).stdout.split()  # fmt: skip
    adapters = {d.adapter_module for d in catalogue.declared().values()}
    assert adapters & set(loaded) == set()
    assert "newsletter.providers.ses_declaration" in loaded  # it did read the provider's fields
    heavy = {"httpx", "sqlalchemy", "botocore", "cryptography", "newsletter.providers.base"}
    assert heavy & set(loaded) == set()


def test_a_plug_in_that_only_declares_is_refused_when_it_would_send(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    (site / "halfway-0.1.dist-info").mkdir(parents=True)
    (site / "halfway.py").write_text(
        "from newsletter.providers.settings import ProviderDeclaration\n\n"
        "class Halfway(ProviderDeclaration):\n    name = 'halfway'\n"
    )
    (site / "halfway-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: halfway\nVersion: 0.1\n"
    )
    (site / "halfway-0.1.dist-info" / "entry_points.txt").write_text(
        f"[{catalogue.ENTRY_POINT_GROUP}]\nhalfway = halfway:Halfway\n"
    )
    monkeypatch.syspath_prepend(str(site))
    catalogue.declared.cache_clear()
    try:
        assert issubclass(catalogue.declaration("halfway"), ProviderDeclaration)
        with pytest.raises(ConfigError, match=r"'halfway' declares no adapter — its plug-in must register"):
            registry.provider_class("halfway")
    finally:
        catalogue.declared.cache_clear()
