"""MIME for the outbox and SMTP: one complete message per recipient of the real sample issue.

Rows (``python -m bench mime``), each measured against its bare peer in interleaved rounds:

- ``outbox``: :class:`~newsletter.providers.outbox.OutboxProvider` writing a ``.eml`` file per
  recipient, in batches of 1,000 — against writing the same number of pre-built messages
  the way the outbox does (a temporary file moved into place), the ceiling of the disk.
- ``SMTP``: :class:`~newsletter.providers.smtp.SmtpProvider` to the aiosmtpd relay (its own
  process), batches of 100 — against :mod:`smtplib` ``sendmail`` of pre-built messages over
  one connection, the ceiling of the relay and loopback.
- ``MIME message``: building one recipient's message alone (µs), for the sample issue and for
  an issue three times its size (its HTML and text three times over): the per-recipient cost
  should not grow with the issue.

The issue is ``issues/2019-12-20-tak-for-et-godt-2019`` rendered by the project
(about 41 KB of HTML); the recipients are built by the send's own
:class:`~newsletter.send.recipients.RecipientBuilder` (signed links, List-Unsubscribe,
List-Id), with the Danish names of the benchmark lists. ``BENCH_MIME_MESSAGES`` sets the
messages per sample (default 2,000; SMTP takes half).
"""

from __future__ import annotations

import os
import smtplib
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.measure import Results, Row, Spread, interleave
from bench.seeding import FIRST_NAMES, LAST_NAMES
from newsletter.config import Settings, load_settings
from newsletter.message import Batch, Content, Recipient
from newsletter.mime import build_message
from newsletter.providers.outbox import OutboxProvider
from newsletter.providers.smtp import SmtpProvider, SmtpServer
from newsletter.send.ledger import ClaimedRow
from newsletter.send.recipients import RecipientBuilder
from newsletter.send.service import prepare_issue
from tests.smtp_relay import running_relay

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
ROUNDS = 3
SECRET = "bench-signing-key-0123456789abcdef"


def sample_content(settings: Settings) -> Content:
    return prepare_issue(settings, SAMPLE, run_checks=False).content


def people(settings: Settings, count: int) -> list[Recipient]:
    """``count`` recipients as a send builds them from its ledger rows, every third without a name."""
    builder = RecipientBuilder(
        settings, issue=SAMPLE, list_id=1, list_name="erhverv", list_title="Erhvervsnyt"
    )
    rows = [
        ClaimedRow(
            number,
            number,
            f"person{number:06d}@example.com",
            None if number % 3 == 0 else f"{FIRST_NAMES[number % 10]} {LAST_NAMES[number % 8]}",
            "da",
            1,
            f"link-key-{number:08d}",
        )
        for number in range(count)
    ]
    return [builder.for_row(row) for row in rows]


def outbox_rates(content: Content, recipients: list[Recipient], folder: Path) -> dict[str, Spread]:
    provider = OutboxProvider(folder / "outbox")
    prebuilt = [build_message(content, r).data for r in recipients]
    bare_folder = folder / "bare"
    bare_folder.mkdir()

    def project() -> float:
        started = time.perf_counter()
        for start in range(0, len(recipients), provider.max_batch):
            provider.send_batch(Batch(content, recipients[start : start + provider.max_batch]))
        return len(recipients) / (time.perf_counter() - started)

    def bare() -> float:
        started = time.perf_counter()
        for number, data in enumerate(prebuilt):
            handle, temporary = tempfile.mkstemp(dir=bare_folder, prefix=".tmp-", suffix=".eml")
            with os.fdopen(handle, "wb") as file:
                file.write(data)
            os.replace(temporary, bare_folder / f"{number}.eml")
        return len(prebuilt) / (time.perf_counter() - started)

    return interleave(ROUNDS, {"project": project, "bare": bare})


def smtp_rates(content: Content, recipients: list[Recipient]) -> dict[str, Spread]:
    prebuilt = [(r.email, build_message(content, r).data) for r in recipients]
    with running_relay() as relay:
        provider = SmtpProvider(SmtpServer(relay.host, relay.port, security="none"))

        def project() -> float:
            started = time.perf_counter()
            for start in range(0, len(recipients), provider.max_batch):
                provider.send_batch(Batch(content, recipients[start : start + provider.max_batch]))
            return len(recipients) / (time.perf_counter() - started)

        def bare() -> float:
            started = time.perf_counter()
            with smtplib.SMTP(relay.host, relay.port) as connection:
                for address, data in prebuilt:
                    connection.sendmail(content.from_email, [address], data)
            return len(prebuilt) / (time.perf_counter() - started)

        rates = interleave(ROUNDS, {"project": project, "bare": bare})
        provider.close()
        sent = sum(relay.count_by_address().values())
    assert sent == 2 * ROUNDS * len(recipients), sent
    return rates


def build_microseconds(content: Content, recipients: list[Recipient]) -> Spread:
    """Microseconds to build one message, per round over all ``recipients``."""
    build_message(content, recipients[0])  # the issue's fixed parts are made once, as a send does
    samples = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for recipient in recipients:
            build_message(content, recipient)
        samples.append((time.perf_counter() - started) / len(recipients) * 1e6)
    return Spread.of(samples)


def main() -> Results:
    os.environ.setdefault("NEWSLETTER_SECRET_KEY", SECRET)
    count = int(os.environ.get("BENCH_MIME_MESSAGES", "2000"))
    settings = load_settings(ROOT / "newsletter.toml")
    content = sample_content(settings)
    recipients = people(settings, count)
    results = Results("mime")
    html_kb = len(content.html.encode()) / 1024
    with tempfile.TemporaryDirectory() as folder:
        outbox = outbox_rates(content, recipients, Path(folder))
    results.add(
        Row(
            f"outbox, {count:,} messages, real sample issue",
            "msg/s",
            outbox["project"],
            outbox["bare"],
            peer_label="writing pre-built messages",
            higher_is_better=True,
        )
    )
    smtp = smtp_rates(content, recipients[: count // 2])
    results.add(
        Row(
            f"SMTP to a local relay, {count // 2:,} messages, real sample issue",
            "msg/s",
            smtp["project"],
            smtp["bare"],
            peer_label="smtplib sendmail of pre-built messages",
            higher_is_better=True,
        )
    )
    sample = build_microseconds(content, recipients)
    large = replace(content, html=content.html * 3, text=content.text * 3)
    tripled = build_microseconds(large, recipients)
    results.add(
        Row(
            f"MIME message of an issue 3× the sample ({3 * html_kb:.0f} KB HTML)",
            "µs",
            tripled,
            sample,
            peer_label=f"the sample issue ({html_kb:.0f} KB HTML)",
            note="per recipient: should not grow with the issue's size",
        )
    )
    results.figures.update({"html_kb": round(html_kb, 1), "messages_per_sample": count})
    return results


if __name__ == "__main__":
    main()
