"""make_provider: the configured adapter, its base URL, timeout and key from the environment."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from newsletter.errors import ConfigError
from newsletter.providers.brevo import BrevoProvider
from newsletter.providers.mailgun import EU_BASE_URL, MailgunProvider
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.postmark import PostmarkProvider
from newsletter.providers.registry import make_provider, provider_class
from newsletter.providers.resend import ResendProvider
from newsletter.providers.sendgrid import SendGridProvider
from newsletter.providers.ses import SesProvider
from tests.providers.conftest import KEYS, settings_for

CLASSES = {
    "postmark": PostmarkProvider,
    "sendgrid": SendGridProvider,
    "mailgun": MailgunProvider,
    "resend": ResendProvider,
    "brevo": BrevoProvider,
    "ses": SesProvider,
}


def test_outbox_needs_no_credentials_and_no_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in KEYS:
        monkeypatch.delenv(variable, raising=False)
    provider = make_provider(settings_for("outbox", root=tmp_path, outbox_dir="mail").provider)
    assert isinstance(provider, OutboxProvider)
    assert provider.client is None
    assert provider.outbox_dir == tmp_path / "mail"
    assert provider.idempotent


def key_variable(name: str) -> str:
    credential = provider_class(name).credential
    assert credential is not None, f"{name} declares no API key"
    return credential.name


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_missing_key_names_the_variable(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(key_variable(name), raising=False)
    with pytest.raises(ConfigError) as caught:
        make_provider(settings_for(name).provider)
    assert key_variable(name) in str(caught.value)
    assert "export" in str(caught.value)


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_builds_adapter_with_base_url_and_timeout(name: str, provider_keys: dict[str, str]) -> None:
    settings = settings_for(name, "http://127.0.0.1:9/api", timeout_seconds=7.5, concurrency=3)
    provider = make_provider(settings.provider)
    try:
        assert isinstance(provider, CLASSES[name])
        assert provider.base_url == "http://127.0.0.1:9/api"
        assert isinstance(provider.client, httpx.Client)
        assert provider.client.timeout.read == 7.5
        key = provider_keys[key_variable(name)]
        assert key not in repr(provider)
        assert key not in str(vars(provider.client))
    finally:
        provider.close()


def test_default_base_urls_are_the_providers_own(provider_keys: dict[str, str]) -> None:
    expected = {
        "postmark": "https://api.postmarkapp.com",
        "sendgrid": "https://api.sendgrid.com",
        "mailgun": "https://api.mailgun.net",
        "resend": "https://api.resend.com",
        "brevo": "https://api.brevo.com",
        "ses": "https://email.eu-north-1.amazonaws.com",  # in the EU unless ses_region says otherwise
    }
    for name, url in expected.items():
        provider = make_provider(settings_for(name).provider)
        assert provider.base_url == url
        provider.close()


def test_mailgun_eu_host_and_domain(provider_keys: dict[str, str]) -> None:
    provider = make_provider(settings_for("mailgun", EU_BASE_URL, mailgun_domain="mg.balk.dk").provider)
    assert isinstance(provider, MailgunProvider)
    assert provider.base_url == "https://api.eu.mailgun.net"
    assert provider.domain == "mg.balk.dk"
    provider.close()


def test_mailgun_without_domain_is_a_config_error(provider_keys: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="mailgun_domain"):
        make_provider(settings_for("mailgun", mailgun_domain="").provider)


def test_injected_client_is_used(provider_keys: dict[str, str]) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200, json=[])))
    provider = make_provider(settings_for("postmark").provider, client=client)
    assert provider.client is client
    assert isinstance(provider, PostmarkProvider)
    assert provider.message_stream == "broadcast"
