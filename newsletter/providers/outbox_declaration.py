"""The outbox as the settings know it: ``[provider] outbox_dir``, no key (the adapter: :mod:`.outbox`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.providers.settings import ProviderDeclaration
from newsletter.settings_reader import SettingsReader


@dataclass(frozen=True)
class OutboxOptions:
    outbox_dir: Path  # [provider] outbox_dir, relative to newsletter.toml's folder


class OutboxDeclaration(ProviderDeclaration):
    name = "outbox"
    label = "the outbox folder"
    max_batch = 1000
    adapter_module = "newsletter.providers.outbox"

    @classmethod
    def read_options(cls, reader: SettingsReader, root: Path) -> OutboxOptions:
        return OutboxOptions(outbox_dir=root / reader.text("provider", "outbox_dir", default="outbox"))


DECLARATION = OutboxDeclaration
