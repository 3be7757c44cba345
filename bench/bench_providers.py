"""Provider adapters against the local emulator and SMTP relay: messages per second, per provider.

For each provider, two figures over the same number of messages:
- ``adapter``: ``send_batch`` end to end (per-recipient merge or translation,
  JSON / form / MIME encoding, HTTP or SMTP over loopback, reading results);
- ``bare``: only sending what the adapter sends for the first batch, built
  (and encoded) beforehand, as many times — the ceiling the server and loopback
  allow. For an HTTP API that is its requests replayed as captured (without the
  idempotency key, which the emulator would rightly refuse to see twice); for
  SMTP it is :mod:`smtplib` ``sendmail`` of the same complete messages over one
  connection.

``bare / adapter`` is the adapter's overhead; the absolute rates say more about
the machine than the code. The emulator and the relay run as separate processes
(as a provider would). The content is a realistic newsletter size (about 20 KB
of HTML). Set ``BENCH_PROVIDER_MESSAGES`` to change the count (default 10,000
per provider). The outbox (files, no network) is measured over
``BENCH_OUTBOX_MESSAGES`` (500).
"""

from __future__ import annotations

import os
import smtplib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from newsletter.config import settings_from_dict
from newsletter.message import Batch, Content, Recipient
from newsletter.mime import build_message
from newsletter.personalize import placeholder
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.registry import make_provider, provider_class
from newsletter.providers.settings import ProviderSettings
from tests.emulator import running_emulator
from tests.smtp_relay import running_relay


@dataclass(frozen=True)
class Emulated:
    """What a provider the emulator speaks needs besides its name and the emulator's URL."""

    fields: dict[str, object] = field(default_factory=dict)  # its own [provider] fields
    secrets: tuple[str, ...] = ()  # environment variables it reads besides its ``credential``


# One line per provider: a new one with an emulator endpoint is ``"NAME": Emulated(…)``.
EMULATED = {
    "postmark": Emulated(),
    "sendgrid": Emulated(),
    "mailgun": Emulated({"mailgun_domain": "mg.example.org"}),
    "resend": Emulated(),
    "brevo": Emulated(),
    "ses": Emulated(secrets=("NEWSLETTER_SES_ACCESS_KEY_ID",)),
}


def content() -> Content:
    block = (
        '<tr><td style="padding:16px;font-family:Arial,sans-serif;font-size:16px;color:#222">'
        "<h2>Nyt fra erhvervslivet i Ballerup</h2><p>Lorem ipsum dolor sit amet, æøå ÆØÅ, consectetur "
        'adipiscing elit.</p><a href="https://example.org/artikel">Læs mere</a></td></tr>'
    )
    html = (
        f'<html><body><p>Kære {placeholder("name")},</p><table role="presentation">'
        + block * 60
        + f'</table><a href="{placeholder("unsubscribe_url")}">Afmeld</a></body></html>'
    )
    text = f"Kære {placeholder('name')},\n\n" + "Nyt fra erhvervslivet i Ballerup.\n" * 60
    text += f"\nAfmeld: {placeholder('unsubscribe_url')}\n"
    return Content(
        subject="Nyhedsbrev december — æøå",
        html=html,
        text=text,
        from_email="nyhedsbrev@example.org",
        from_name="BusinessBallerup",
        reply_to="jrau@balk.dk",
        issue="2019-12-20-tak-for-et-godt-2019",
    )


def recipients(count: int) -> list[Recipient]:
    out = []
    for i in range(count):
        url = f"https://nyhedsbrev.example.org/u/tok{i:08d}"
        out.append(
            Recipient(
                email=f"m{i}@example.com",
                name=f"Modtager {i}",
                values={"name": f"Modtager {i}", "unsubscribe_url": url},
                headers={
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
                metadata={"nl_issue": "2019-12-20", "nl_subscriber": str(i), "nl_delivery": str(i)},
            )
        )
    return out


def provider_settings(name: str, secrets: tuple[str, ...] = (), **fields: object) -> ProviderSettings:
    """``[provider]`` for ``name`` as newsletter.toml would give it, its secrets set to dummy values."""
    credential = provider_class(name).credential
    for variable in (*([credential.name] if credential else []), *secrets):
        # Never a real key, even if one is exported: the emulator checks none unless told to.
        os.environ[variable] = "bench-key"
    settings = settings_from_dict(
        {
            "organisation": {"name": "BusinessBallerup", "address": "Hold-An Vej 7, 2750 Ballerup"},
            "sender": {"name": "BusinessBallerup", "email": "nyhedsbrev@example.org"},
            "site": {"base_url": "https://nyhedsbrev.example.org"},
            "provider": {"name": name, **fields},
        }
    )
    return settings.provider


def batches(name: str, count: int) -> list[Batch]:
    """``count`` recipients in batches as large as the provider takes, each with its own key."""
    body = content()
    people = recipients(count)
    size = provider_class(name).max_batch
    return [Batch(body, people[i : i + size], f"bench-{name}-{i}") for i in range(0, count, size)]


def timed(send: Callable[[], None], count: int) -> int:
    """Messages per second of ``send``, which sends ``count`` messages."""
    started = time.perf_counter()
    send()
    return round(count / (time.perf_counter() - started))


def adapter_and_bare(adapter: int, bare: int) -> dict[str, float]:
    return {
        "adapter_messages_per_second": adapter,
        "bare_messages_per_second": bare,
        "bare_over_adapter": round(bare / adapter, 2),
    }


def measure(name: str, count: int) -> dict[str, float]:
    """One provider's adapter against the emulator, then its first batch's requests replayed."""
    work = batches(name, count)
    captured: list[httpx.Request] = []
    with (
        running_emulator(record="counts") as emulator,
        httpx.Client(timeout=60) as client,
        httpx.Client(timeout=60, event_hooks={"request": [captured.append]}) as capturing,
    ):
        needs = EMULATED[name]
        settings = provider_settings(name, needs.secrets, base_url=emulator.url, **needs.fields)
        provider = make_provider(settings, client)

        def send_all() -> None:
            for batch in work:
                provider.send_batch(batch)

        adapter = timed(send_all, count)
        assert emulator.accepted_count(name) == count

        first = work[0]
        make_provider(settings, capturing).send_batch(Batch(first.content, first.recipients))
        requests = [(r.method, str(r.url), r.read(), dict(r.headers)) for r in captured]
        emulator.reset()

        def replay() -> None:
            for _ in work:
                for method, url, body, headers in requests:
                    client.request(method, url, content=body, headers=headers).raise_for_status()

        bare = timed(replay, len(work) * len(first.recipients))
        assert emulator.accepted_count(name) == len(work) * len(first.recipients)
    return {"requests_per_batch": len(requests), **adapter_and_bare(adapter, bare)}


def measure_smtp(count: int) -> dict[str, float]:
    """The SMTP adapter against the aiosmtpd relay, then smtplib sending its first batch's messages."""
    work = batches("smtp", count)
    with running_relay() as relay:
        settings = provider_settings("smtp", smtp_host=relay.host, smtp_port=relay.port, smtp_security="none")
        provider = make_provider(settings)

        def send_all() -> None:
            for batch in work:
                provider.send_batch(batch)
            provider.close()

        adapter = timed(send_all, count)
        assert sum(relay.count_by_address().values()) == count

        first = work[0]
        # The adapter's own builder: the very same messages, complete.
        messages = [(r.email, build_message(first.content, r).data) for r in first.recipients]
        sender = first.content.from_email

        def bare_smtplib() -> None:
            with smtplib.SMTP(relay.host, relay.port) as connection:
                for _ in work:
                    for address, data in messages:
                        connection.sendmail(sender, [address], data)

        bare = timed(bare_smtplib, len(work) * len(messages))
        assert sum(relay.count_by_address().values()) == count + len(work) * len(messages)
    return adapter_and_bare(adapter, bare)


def measure_outbox(count: int) -> dict[str, float]:
    """The file outbox: one full MIME message per recipient, built with the email package."""
    with tempfile.TemporaryDirectory() as folder:
        provider = OutboxProvider(folder)
        people = recipients(count)
        started = time.perf_counter()
        for i in range(0, count, 1000):
            provider.send_batch(Batch(content(), people[i : i + 1000]))
        return {"messages": count, "messages_per_second": round(count / (time.perf_counter() - started))}


def main() -> dict[str, Any]:
    count = int(os.environ.get("BENCH_PROVIDER_MESSAGES", "10000"))
    results: dict[str, Any] = {"messages_per_provider": count, "html_bytes": len(content().html)}
    for name in EMULATED:
        results[name] = measure(name, count)
        print(f"{name:9s} {results[name]}")
    results["smtp"] = measure_smtp(count)
    print(f"smtp      {results['smtp']}")
    results["outbox"] = measure_outbox(int(os.environ.get("BENCH_OUTBOX_MESSAGES", "500")))
    print(f"outbox    {results['outbox']}")
    return results


if __name__ == "__main__":
    print(main())
