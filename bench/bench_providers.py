"""Provider adapters against the local emulator and SMTP relay: messages per second, per provider.

The content is the real sample issue (``issues/2019-12-20-tak-for-et-godt-2019``), rendered by
the project's own render as :mod:`bench.bench_render` does and made into the ``Content`` a send
hands its provider (:func:`newsletter.render.content_for`): about 41 KB of HTML and 4 KB of
text. The *large issue* is that sample with the inside of its ``<body>`` repeated, and its text
part likewise, until the HTML is about 200 KB (five copies). Each recipient is built by the
project's per-recipient builders (merge values, List-Unsubscribe, List-Id and Feedback-ID), as
in a send.

For each HTTP provider two contenders, interleaved round by round (:func:`bench.measure.interleave`):

- the *adapter*: ``send_batch`` end to end over all the messages (per-recipient merge or
  translation, JSON / form encoding, signing, HTTP over loopback, reading the results);
- the *bare replay of the same requests*: what the adapter posts for one batch, captured
  just before (an SES signature is good for five minutes) and posted again once per batch,
  as they are — the ceiling the emulator and loopback allow. Captured without an idempotency
  key, which the emulator would rightly refuse to see twice.

``adapter ÷ bare`` is the row's ratio (target ≥ 0.6×: the adapter's own work costs at most
two thirds of what the network and the API cost). The emulator and the SMTP relay run as
processes of their own, as a provider would. The SMTP adapter is measured against
:mod:`smtplib` sending the same complete messages over one connection; the outbox (files,
no network) alone.

Counts (environment): ``BENCH_PROVIDER_MESSAGES`` (10,000 per HTTP provider, real sample),
``BENCH_LARGE_MESSAGES`` (2,000, large issue; more where ten of the provider's requests carry
more — 5,000 for Postmark, 10,000 for SendGrid and Mailgun — so that each round posts at least
ten requests), ``BENCH_SMTP_MESSAGES`` (2,000: every message is
built as MIME and the relay is slow), ``BENCH_OUTBOX_MESSAGES`` (500), ``BENCH_ROUNDS`` (3).
Run: ``.venv/bin/python -m bench providers`` (about a quarter of an hour on two busy cores).
"""

from __future__ import annotations

import dataclasses
import os
import smtplib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.measure import Results, Row, Spread, interleave, ratio_target
from newsletter.config import Settings, load_settings, settings_from_dict
from newsletter.issue import load_issue, resolve_issue
from newsletter.links import PersonLinks
from newsletter.message import Batch, Content, Recipient
from newsletter.mime import build_message
from newsletter.per_recipient import list_headers, list_unsubscribe_headers, merge_values
from newsletter.providers._json_body import WRITE_SIZE
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.registry import make_provider, provider_class
from newsletter.providers.settings import ProviderSettings
from newsletter.render import content_for, render_issue
from tests.emulator import RemoteEmulator, running_emulator
from tests.smtp_relay import running_relay

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
LARGE_HTML_BYTES = 200_000
TARGET = 0.6
MIN_REQUESTS = 10  # of the large issue, per provider and round
PEER = "bare replay of the same requests"


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


def sample_content(settings: Settings) -> Content:
    """The sample issue rendered by the project and made into what a send hands its provider."""
    rendered = render_issue(load_issue(resolve_issue(SAMPLE, settings), settings), settings)
    return content_for(rendered, settings)


def large_content(sample: Content) -> Content:
    """The sample with the inside of its ``<body>`` (and its text) repeated to about 200 KB of HTML."""
    opened = sample.html.index(">", sample.html.index("<body")) + 1
    closed = sample.html.rindex("</body>")
    head, inside, tail = sample.html[:opened], sample.html[opened:closed], sample.html[closed:]
    copies = max(1, round((LARGE_HTML_BYTES - len(head) - len(tail)) / len(inside)))
    return dataclasses.replace(sample, html=head + inside * copies + tail, text=sample.text * copies)


def recipients(settings: Settings, count: int) -> list[Recipient]:
    """``count`` subscribers of the list "erhverv", each built as a send builds them."""
    shared = list_headers(settings, campaign=SAMPLE, list_name="erhverv", list_title="Erhvervsnyt fra Ærø")
    people = []
    for number in range(count):
        address = f"modtager{number}@example.com"
        links = PersonLinks(
            settings.url(f"u/token-{number:08d}-abcdefghijklmnopqrstuvwxyz"),
            settings.url(f"preferences/token-{number:08d}"),
        )
        name = f"Modtager {number} & Søn" if number % 3 else None
        people.append(
            Recipient(
                email=address,
                name=name,
                values=merge_values(settings, email=address, name=name, lang="da", links=links, issue=SAMPLE),
                headers={**list_unsubscribe_headers(settings, links.unsubscribe_url), **shared},
                metadata={"nl_issue": SAMPLE, "nl_subscriber": str(number), "nl_delivery": str(number)},
            )
        )
    return people


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


def batches(name: str, content: Content, people: list[Recipient]) -> list[Batch]:
    """The recipients in batches as large as the provider takes, each with its own key."""
    size = provider_class(name).max_batch
    return [Batch(content, people[i : i + size], f"bench-{name}-{i}") for i in range(0, len(people), size)]


def rate(count: int, send: Callable[[], object]) -> float:
    """Messages per second of ``send``, which sends ``count`` messages."""
    started = time.perf_counter()
    send()
    return count / (time.perf_counter() - started)


@dataclass(frozen=True)
class Measured:
    adapter: Spread
    bare: Spread
    requests_per_batch: int


def measure_http(name: str, work: list[Batch], emulator: RemoteEmulator, rounds: int) -> Measured:
    """The adapter sending ``work`` against the emulator, interleaved with the bare replay of its requests."""
    count = sum(len(batch.recipients) for batch in work)
    needs = EMULATED[name]
    settings = provider_settings(name, needs.secrets, base_url=emulator.url, **needs.fields)
    first = work[0]
    requests_per_batch = 0
    with httpx.Client(timeout=120) as client:
        provider = make_provider(settings, client)

        def adapter() -> float:
            emulator.reset()
            sent = rate(count, lambda: [provider.send_batch(batch) for batch in work])
            assert emulator.accepted_count(name) == count, f"{name}: not every message was accepted"
            return sent

        def bare() -> float:
            nonlocal requests_per_batch
            captured: list[httpx.Request] = []
            with httpx.Client(timeout=120, event_hooks={"request": [captured.append]}) as capturing:
                make_provider(settings, capturing).send_batch(Batch(first.content, first.recipients))
            requests = [(r.method, str(r.url), r.read(), dict(r.headers)) for r in captured]
            requests_per_batch = len(requests)
            emulator.reset()

            def replay() -> None:
                for _ in work:
                    for method, url, body, headers in requests:
                        # In slices, with the captured Content-Length: one bytes object of a large
                        # batch (100 MB at 500 × 200 KB) is copied whole by the HTTP layer first.
                        content = (body[at : at + WRITE_SIZE] for at in range(0, len(body), WRITE_SIZE))
                        client.request(method, url, content=content, headers=headers).raise_for_status()

            replayed = len(work) * len(first.recipients)
            sent = rate(replayed, replay)
            assert emulator.accepted_count(name) == replayed, f"{name}: the replay was not accepted"
            return sent

        spreads = interleave(rounds, {"adapter": adapter, "bare": bare})
    return Measured(spreads["adapter"], spreads["bare"], requests_per_batch)


def http_row(name: str, issue: str, measured: Measured, count: int) -> Row:
    label = provider_class(name).label
    row = Row(
        work=f"send, {name}, {issue}, {count:,} messages",
        unit="msg/s",
        project=measured.adapter,
        peer=measured.bare,
        peer_label=PEER,
        higher_is_better=True,
        target=f"≥ {TARGET}×",
        note=f"{label}: {measured.requests_per_batch} request(s) per batch of "
        f"{provider_class(name).max_batch}",
    )
    return dataclasses.replace(row, met=ratio_target(row.ratio, at_least=TARGET))


def smtp_row(content: Content, people: list[Recipient], rounds: int) -> Row:
    """The SMTP adapter against the aiosmtpd relay, interleaved with smtplib sending the same messages."""
    work = batches("smtp", content, people)
    count = len(people)
    with running_relay() as relay:
        settings = provider_settings("smtp", smtp_host=relay.host, smtp_port=relay.port, smtp_security="none")
        provider = make_provider(settings)

        def adapter() -> float:
            def send_all() -> None:
                for batch in work:
                    provider.send_batch(batch)
                provider.close()

            return rate(count, send_all)

        first = work[0]
        # The adapter's own builder: the very same messages, complete.
        messages = [(r.email, build_message(first.content, r).data) for r in first.recipients]
        sender = first.content.from_email

        def bare() -> float:
            def send_all() -> None:
                with smtplib.SMTP(relay.host, relay.port) as connection:
                    for _ in work:
                        for address, data in messages:
                            connection.sendmail(sender, [address], data)

            return rate(len(work) * len(messages), send_all)

        spreads = interleave(rounds, {"adapter": adapter, "bare": bare})
        sent = sum(relay.count_by_address().values())
        assert sent == rounds * (count + len(work) * len(messages)), "smtp: not every message arrived"
    return Row(
        work=f"send, smtp, real sample, {count:,} messages",
        unit="msg/s",
        project=spreads["adapter"],
        peer=spreads["bare"],
        peer_label="smtplib sendmail of the same messages",
        higher_is_better=True,
    )


def outbox_row(content: Content, people: list[Recipient], rounds: int) -> Row:
    """The file outbox: one complete MIME message per recipient, written to a folder."""

    def write_all() -> float:
        with tempfile.TemporaryDirectory() as folder:
            provider = OutboxProvider(folder)
            return rate(
                len(people),
                lambda: [provider.send_batch(batch) for batch in batches("outbox", content, people)],
            )

    spreads = interleave(rounds, {"outbox": write_all})
    return Row(
        work=f"send, outbox, real sample, {len(people):,} messages",
        unit="msg/s",
        project=spreads["outbox"],
        higher_is_better=True,
    )


def main() -> Results:
    count = int(os.environ.get("BENCH_PROVIDER_MESSAGES", "10000"))
    large_count = int(os.environ.get("BENCH_LARGE_MESSAGES", "2000"))
    smtp_count = int(os.environ.get("BENCH_SMTP_MESSAGES", "2000"))
    outbox_count = int(os.environ.get("BENCH_OUTBOX_MESSAGES", "500"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    settings = load_settings(ROOT / "newsletter.toml")
    sample = sample_content(settings)
    large = large_content(sample)
    largest_batch = max(provider_class(name).max_batch for name in EMULATED)
    people = recipients(
        settings, max(count, large_count, MIN_REQUESTS * largest_batch, smtp_count, outbox_count)
    )
    results = Results(
        "providers",
        figures={
            "sample_html_bytes": len(sample.html.encode()),
            "sample_text_bytes": len(sample.text.encode()),
            "large_html_bytes": len(large.html.encode()),
            "large_text_bytes": len(large.text.encode()),
            "rounds": rounds,
        },
    )
    print(
        f"sample {results.figures['sample_html_bytes']:,} B HTML, large issue "
        f"{results.figures['large_html_bytes']:,} B; {rounds} interleaved rounds"
    )
    with running_emulator(record="counts") as emulator:
        for name in EMULATED:
            measured = measure_http(name, batches(name, sample, people[:count]), emulator, rounds)
            results.add(http_row(name, "real sample", measured, count))
        for name in EMULATED:
            # At least MIN_REQUESTS requests a round, so that no one request decides a round.
            messages = max(large_count, MIN_REQUESTS * provider_class(name).max_batch)
            measured = measure_http(name, batches(name, large, people[:messages]), emulator, rounds)
            results.add(http_row(name, "large issue (~200 KB)", measured, messages))
    results.add(smtp_row(sample, people[:smtp_count], rounds))
    results.add(outbox_row(sample, people[:outbox_count], rounds))
    return results


if __name__ == "__main__":
    main()
