"""Provider adapters against the local emulator: messages per second, per provider.

For each provider, two figures over the same number of messages:
- ``adapter``: ``send_batch`` end to end (per-recipient merge or translation,
  JSON / form encoding, HTTP over loopback, reading results);
- ``bare``: only posting a request built (and encoded) beforehand, the first
  batch's, as many times — the ceiling the emulator and loopback HTTP allow.

The emulator runs as a separate process (as a provider would be). The content is a realistic newsletter size (about 20 KB of HTML). Set
``BENCH_PROVIDER_MESSAGES`` to change the count (default 10,000 per provider).
The outbox (files, no HTTP) is measured over ``BENCH_OUTBOX_MESSAGES`` (500).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx

from newsletter.message import Batch, Content, Recipient
from newsletter.personalize import placeholder
from newsletter.providers.base import Provider
from newsletter.providers.mailgun import MailgunProvider
from newsletter.providers.postmark import PostmarkProvider
from newsletter.providers.resend import ResendProvider
from newsletter.providers.sendgrid import SendGridProvider
from tests.emulator import RemoteEmulator

BATCH = {"postmark": 500, "sendgrid": 1000, "mailgun": 1000, "resend": 100}


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


def make(name: str, client: httpx.Client, url: str) -> Provider:
    if name == "postmark":
        return PostmarkProvider(client, url, server_token="bench-token")
    if name == "sendgrid":
        return SendGridProvider(client, url, api_key="bench-key")
    if name == "mailgun":
        return MailgunProvider(client, url, api_key="bench-key", domain="mg.example.org")
    return ResendProvider(client, url, api_key="bench-key")


def prebuilt(provider: Provider, batch: Batch) -> tuple[str, bytes, dict[str, str]]:
    """The path, encoded body and headers the adapter would post for ``batch``."""
    as_json = {"Content-Type": "application/json"}
    if isinstance(provider, PostmarkProvider):
        body = json.dumps(provider.build_payload(batch)).encode()
        return "/email/batch", body, {**as_json, "X-Postmark-Server-Token": "t"}
    if isinstance(provider, SendGridProvider):
        body = json.dumps(provider.build_payload(batch)).encode()
        return "/v3/mail/send", body, {**as_json, "Authorization": "Bearer k"}
    if isinstance(provider, MailgunProvider):
        basic = base64.b64encode(b"api:k").decode()
        body = urlencode(provider.build_form(batch)).encode()
        return (
            "/v3/mg.example.org/messages",
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": f"Basic {basic}",
            },
        )
    assert isinstance(provider, ResendProvider)
    body = json.dumps(provider.build_payload(batch)).encode()
    return "/emails/batch", body, {**as_json, "Authorization": "Bearer k"}


@contextlib.contextmanager
def running_emulator() -> Iterator[RemoteEmulator]:
    """The emulator as its own process, so it does not share this process's GIL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--record", "counts"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        remote = RemoteEmulator(process.stdout.readline().strip())
        yield remote
        remote.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def measure(name: str, count: int) -> dict[str, float]:
    body = content()
    people = recipients(count)
    size = BATCH[name]
    batches = [
        Batch(body, people[i : i + size], idempotency_key=f"bench-{name}-{i}") for i in range(0, count, size)
    ]
    figures: dict[str, float] = {}
    with running_emulator() as emulator, httpx.Client(timeout=60) as client:
        provider = make(name, client, emulator.url)
        started = time.perf_counter()
        for batch in batches:
            provider.send_batch(batch)
        elapsed = time.perf_counter() - started
        assert emulator.accepted_count(name) == count
        figures["adapter_messages_per_second"] = round(count / elapsed)

        path, encoded, headers = prebuilt(provider, batches[0])
        emulator.reset()
        started = time.perf_counter()
        for number in range(len(batches)):
            # A fresh Idempotency-Key each time, or Resend would (rightly) replay.
            keyed = {**headers, "Idempotency-Key": f"bare-{number}"}
            client.post(emulator.url + path, content=encoded, headers=keyed).raise_for_status()
        elapsed = time.perf_counter() - started
        assert emulator.accepted_count(name) == len(batches) * len(batches[0].recipients)
        figures["bare_messages_per_second"] = round(count / elapsed)
    return figures


def measure_outbox(count: int) -> dict[str, float]:
    """The file outbox: one full MIME message per recipient, built with the email package."""
    from newsletter.providers.outbox import OutboxProvider

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
    for name in BATCH:
        results[name] = measure(name, count)
        print(f"{name:9s} {results[name]}")
    results["outbox"] = measure_outbox(int(os.environ.get("BENCH_OUTBOX_MESSAGES", "500")))
    print(f"outbox    {results['outbox']}")
    return results


if __name__ == "__main__":
    print(main())
