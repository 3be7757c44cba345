"""Fixtures for the send tests: the provider emulator and projects configured for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from newsletter.config import Settings, load_settings
from tests.conftest import SETTINGS_TEMPLATE
from tests.emulator import Emulator

# Recognisable values, so a test can prove they never reach output or logs.
KEYS = {
    "postmark": "pm-token-SECRET-1f2e3d4c5b6a",
    "sendgrid": "SG.sendgrid-SECRET-0a9b8c7d",
    "mailgun": "key-mailgun-SECRET-77aa88bb",
    "resend": "re_resend_SECRET_55cc66dd",
}
KEY_VARS = {
    "postmark": "NEWSLETTER_POSTMARK_TOKEN",
    "sendgrid": "NEWSLETTER_SENDGRID_API_KEY",
    "mailgun": "NEWSLETTER_MAILGUN_API_KEY",
    "resend": "NEWSLETTER_RESEND_API_KEY",
}


@pytest.fixture
def emulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    for provider, variable in KEY_VARS.items():
        monkeypatch.setenv(variable, KEYS[provider])
    with Emulator(keys=KEYS) as running:
        yield running


def provider_section(name: str, base_url: str, **options: object) -> str:
    lines = ["[provider]", f'name = "{name}"', 'outbox_dir = "outbox"']
    if base_url:
        lines.append(f'base_url = "{base_url}"')
    if name == "mailgun":
        lines.append('mailgun_domain = "mg.example.org"')
    for key, value in options.items():
        lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def write_settings(
    folder: Path, database_url: str, provider: str, base_url: str = "", **options: object
) -> Path:
    """A project folder (templates, issues, settings) whose provider points at ``base_url``."""
    from tests.conftest import write_project

    path = write_project(folder, database_url)
    text = SETTINGS_TEMPLATE.format(database_url=database_url).replace(
        '[provider]\nname = "outbox"\noutbox_dir = "outbox"\n',
        provider_section(provider, base_url, **options),
    )
    path.write_text(text, encoding="utf-8")
    return path


def with_lease_seconds(config: Path, seconds: int) -> None:
    """``[database] lease_seconds``: short leases let a killed run's batch be recovered in seconds."""
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace("[database]\n", f"[database]\nlease_seconds = {seconds}\n"), "utf-8")


@pytest.fixture
def configure(tmp_path: Path, database_url: str) -> Callable[..., Settings]:
    """``configure("postmark", emulator.url, timeout_seconds=0.5)`` → loaded Settings."""

    def make(provider: str, base_url: str = "", **options: object) -> Settings:
        return load_settings(
            write_settings(tmp_path / "project", database_url, provider, base_url, **options)
        )

    return make
