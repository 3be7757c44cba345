"""THE kill-and-resume test: ``kill -9`` a real ``newsletter send`` at random moments, many times.

A real ``newsletter send --yes`` process talks to the provider's stand-in
running as a separate process — the emulator for the HTTP APIs (Amazon SES's
too), an aiosmtpd relay for SMTP — slowed down, so kills land mid-send. Each run is SIGKILLed
at a random moment; then one last run finishes the send. At the end:

- nobody received the issue twice (the server's own count per address);
- everyone received it, or is listed ``unknown`` by ``newsletter status`` —
  and with an idempotent provider (Resend's Idempotency-Key) nobody is unknown.

Meanwhile the provider half-answers now and then (issue 9): a gateway's 502
after it took the batch, a 200 whose body cannot be read, a ``Retry-After``
of 99999999999999 with a reset in epoch milliseconds; the SMTP relay drops
the connection after taking a message, answers 451, or says 421 and hangs up.

Each provider is one line of ``CASES``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import select, update

from newsletter.providers.registry import provider_class
from newsletter.store.db import open_engine
from newsletter.store.schema import deliveries, subscribers
from tests.conftest import REPO, TEST_SECRET_KEY
from tests.emulator import running_emulator
from tests.send.conftest import with_lease_seconds, write_settings
from tests.send.helpers import addresses, subscribe_many
from tests.smtp_relay import running_relay

ISSUE = "2019-12-20-tak-for-et-godt-2019"
BATCH = 5  # small batches: many claims and records for the kills to land between
# The console script when the repo has its own virtualenv; else the same entry point by hand
# (``newsletter.cli`` is a package without ``__main__``).
NEWSLETTER = (
    [sys.executable, "-c", "import sys; from newsletter.cli import main; sys.exit(main())"]
    if not (REPO / ".venv/bin/newsletter").exists()
    else [str(REPO / ".venv/bin/newsletter")]
)


class FaultyServer(Protocol):
    """What the test asks of the server a provider talks to: the emulator, or the SMTP relay."""

    def inject(self, fault: str, times: int = 1, **params: Any) -> None: ...

    def count_by_address(self) -> Counter[str]: ...

    def faults_left(self) -> list[str]: ...


# A running server, and the [provider] fields that point the provider at it.
Serve = Callable[[str], contextlib.AbstractContextManager[tuple[FaultyServer, dict[str, object]]]]


@contextlib.contextmanager
def _emulator(provider: str) -> Iterator[tuple[FaultyServer, dict[str, object]]]:
    # No key values to compare (each adapter's own tests do): the adapter must still send one.
    with running_emulator() as emulator:
        yield emulator, {"base_url": emulator.url}


@contextlib.contextmanager
def _relay(provider: str) -> Iterator[tuple[FaultyServer, dict[str, object]]]:
    with running_relay() as relay:
        yield relay, {"smtp_host": relay.host, "smtp_port": relay.port, "smtp_security": "none"}


# The provider lying or half-answering now and then, between the kills (issue 9):
# (fault, times, every n-th request, parameters).
HalfAnswer = tuple[str, int, int, dict[str, Any]]
HTTP_HALF_ANSWERS: tuple[HalfAnswer, ...] = (
    ("processed_then_error", 3, 13, {"status": 502}),  # a gateway's 502 after the API took it
    ("unreadable_ok", 2, 17, {"shape": "ok_strings"}),  # a 2xx whose body cannot be read
    ("huge_retry_after", 2, 11, {}),  # Retry-After: 99999999999999, a reset in epoch ms
)
SMTP_HALF_ANSWERS: tuple[HalfAnswer, ...] = (
    ("drop_after", 3, 13, {}),  # the message taken, the connection gone before the 250
    ("transient", 2, 17, {}),  # 451 at RCPT TO
    ("closing", 2, 11, {}),  # 421 at RCPT TO, then the connection is closed
)


@dataclass(frozen=True)
class Case:
    """One provider in the kill-and-resume test, sized to take well under a minute on 2 cores."""

    provider: str
    # True: nobody may end up unknown (an idempotency key makes a resent batch safe).
    idempotent: bool
    # True: the provider takes one message a request (Brevo, SMTP, SES), not a batch. Its server then
    # answers each message in a fifth of the time and half-answers every fifth as often, so that a
    # batch of 5 takes as long, and meets as many faults, as one request of a batch API.
    per_message: bool = False
    subscribers: int = 480
    kills: int = 12
    serve: Serve = _emulator
    half_answers: tuple[HalfAnswer, ...] = HTTP_HALF_ANSWERS
    # The ledger's part (claims, records, recovery) is the same for every provider: two providers
    # run it on PostgreSQL too, the others on SQLite only, to keep the file to a few minutes.
    databases: tuple[str, ...] = ("sqlite", "postgresql")
    # Environment variables it reads besides its ``credential`` (SES: the key ID of its key pair).
    secrets: tuple[str, ...] = ()


def _one_message_a_request(provider: str, **fields: Any) -> Case:
    """A provider that takes one message a request, run smaller and on SQLite only: what differs
    between providers is how they post; the ledger's PostgreSQL path runs with the batch providers."""
    return Case(provider, per_message=True, subscribers=300, kills=8, databases=("sqlite",), **fields)


# One line per provider. A new provider with an emulator endpoint (``python -m tests.emulator``)
# and the emulator's faults is ``Case("NAME", idempotent=…)`` or ``_one_message_a_request("NAME", …)``.
CASES = [
    Case("postmark", idempotent=False),
    # Searchable logs: their unknown rows are settled by a final reconcile (issue 15).
    Case("sendgrid", idempotent=False, subscribers=300, kills=8, databases=("sqlite",)),
    Case("mailgun", idempotent=False, subscribers=300, kills=8, databases=("sqlite",)),
    Case("resend", idempotent=True),
    _one_message_a_request("brevo", idempotent=False),
    _one_message_a_request("smtp", idempotent=False, serve=_relay, half_answers=SMTP_HALF_ANSWERS),
    _one_message_a_request("ses", idempotent=False, secrets=("NEWSLETTER_SES_ACCESS_KEY_ID",)),
]


def _slow_down(server: FaultyServer, seconds: float = 0.2) -> None:
    """Every answer comes ``seconds`` after the server took the message(s): a window in which a kill
    leaves them unrecorded in the ledger.

    Injected last: faults injected before it (with ``every``) take their turn first."""
    server.inject("slow", times=100_000, seconds=seconds)


def _environment(provider: str = "outbox", secrets: tuple[str, ...] = ()) -> dict[str, str]:
    """The send's environment: no NEWSLETTER_* of the caller's, the provider's secrets made up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSLETTER_")}
    env["NEWSLETTER_SECRET_KEY"] = TEST_SECRET_KEY
    credential = provider_class(provider).credential
    for variable in (*([credential.name] if credential else []), *secrets):
        env[variable] = f"{variable.lower()}-SECRET-kill-resume"
    env["PYTHONPATH"] = str(REPO)
    return env


def _in_flight(database_url: str) -> tuple[frozenset[int], int]:
    """Ids of rows marked "sending", and how many rows are settled (sent or unknown)."""
    with open_engine(database_url).connect() as conn:
        rows = conn.execute(select(deliveries.c.id, deliveries.c.state)).all()
    sending = frozenset(row.id for row in rows if row.state == "sending")
    return sending, sum(row.state in ("sent", "unknown") for row in rows)


def _wait_until_sending(database_url: str, process: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """Until this process has claimed a batch of its own (start-up renders and checks the issue first)."""
    deadline = time.monotonic() + timeout
    left_over, settled = _in_flight(database_url)
    while time.monotonic() < deadline and process.poll() is None:
        sending, now_settled = _in_flight(database_url)
        # Settling what the last run left "sending" (unknown, or sent again under its key) is not a
        # claim of this run's own: kill before its first claim and the kill proves nothing.
        if sending - left_over or now_settled > settled + len(left_over):
            return
        time.sleep(0.05)


def _ledger(database_url: str) -> dict[str, str]:
    with open_engine(database_url).connect() as conn:
        rows = conn.execute(
            select(subscribers.c.email, deliveries.c.state).join(
                subscribers, subscribers.c.id == deliveries.c.subscriber_id
            )
        )
        return {email: state for email, state in rows}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "database_url"),
    [
        pytest.param(case, database, id=f"{database}-{case.provider}")
        for case in CASES
        for database in case.databases
    ],
    indirect=["database_url"],
)
def test_kill_nine_at_random_moments_then_resume(case: Case, tmp_path: Path, database_url: str) -> None:
    # PostgreSQL runs only when NEWSLETTER_TEST_DATABASE_URL is set (tests/conftest.py).
    with case.serve(case.provider) as (server, where):
        config = write_settings(
            tmp_path / "project",
            database_url,
            case.provider,
            **where,
            batch_size=BATCH,
            concurrency=2,
            max_wait_seconds=1,  # a Retry-After of 99999999999999 must not stall the test (nor a send)
        )
        # PostgreSQL: a killed run's batch is recovered once its lease expires (SQLite: at once).
        with_lease_seconds(config, 3)
        per_request = BATCH if case.per_message else 1
        for fault, times, every, params in case.half_answers:
            server.inject(fault, times=times, every=every * per_request, **params)
        _slow_down(server, 0.2 / per_request)
        _kill_and_resume(case, server, config, database_url)


def _kill_and_resume(case: Case, server: FaultyServer, config: Path, database_url: str) -> None:
    people = addresses(case.subscribers)
    subscribe_many(open_engine(database_url), people)
    command = [*NEWSLETTER, "--config", str(config), "send", ISSUE, "--list", "erhverv", "--yes"]
    # A new seed every run (so the kills land differently each time); set NEWSLETTER_KILL_SEED to replay one.
    seed = int(os.environ.get("NEWSLETTER_KILL_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    env = _environment(case.provider, case.secrets)
    kills = kills_mid_send = 0
    # A run that stops by itself before its kill (it stops after an answer it cannot read) is not
    # one of the kills: start another, up to twice as many runs as kills.
    for _ in range(2 * case.kills):
        left_over, _settled = _in_flight(database_url)
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_sending(database_url, process)
        time.sleep(rng.uniform(0.0, 0.6))  # somewhere in the middle of a claim, a post or a record
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            # Rows this run left "sending" prove the kill landed between a claim and its record.
            sending, _settled = _in_flight(database_url)
            kills_mid_send += bool(sending - left_over)
            if kills == case.kills:
                break
    assert kills_mid_send >= case.kills // 2, f"the kills should mostly land while sending (seed {seed})"

    # An answer that cannot be read stops a run on purpose, and so does a message left unknown
    # (Brevo, SMTP): each half-answer may stop one run. Run again until the queue is empty.
    for _ in range(1 + sum(times for _fault, times, _every, _params in case.half_answers)):
        final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert "Traceback" not in final.stderr, final.stderr
        if not {"queued", "sending"} & set(_ledger(database_url).values()):
            break
    status = subprocess.run(
        [*NEWSLETTER, "--config", str(config), "status", ISSUE, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    report = json.loads(status.stdout)["sends"][0]
    print(
        f"{case.provider} (seed {seed}): {kills_mid_send}/{case.kills} kills mid-send; "
        f"final counts {report['counts']}"
    )
    received = server.count_by_address()
    ledger = _ledger(database_url)

    twice = {address: n for address, n in received.items() if n > 1}
    assert twice == {}, f"received twice: {twice} (seed {seed})"
    left = [f for f in server.faults_left() if f != "slow"]
    assert left == [], f"half-answers never reached: {left} (seed {seed})"
    missing = [p for p in people if received[p] == 0 and ledger[p] != "unknown"]
    assert missing == [], f"neither received nor listed unknown: {missing[:5]} (seed {seed})"
    assert all(received[p] == 1 for p in people if ledger[p] == "sent")
    unknown = {row["email"] for row in report["unknown"]}
    assert unknown == {p for p in people if ledger[p] == "unknown"}
    assert report["counts"]["queued"] == 0 and report["counts"]["sending"] == 0
    if case.idempotent:
        assert report["counts"]["unknown"] == 0 and final.returncode == 0, f"seed {seed}: {final.stderr}"
        assert all(received[p] == 1 for p in people)
    else:
        # Every unknown row is one whose batch was in flight at a kill: the summary says how to recover.
        assert (final.returncode == 0) == (report["counts"]["unknown"] == 0)
        if report["counts"]["unknown"]:
            assert "--resend-unknown" in final.stderr
    if provider_class(case.provider).log_search is not None:
        _reconcile_then_finish(server, config, database_url, people, env, seed)


def _reconcile_then_finish(
    server: FaultyServer, config: Path, database_url: str, people: list[str], env: dict[str, str], seed: int
) -> None:
    """``newsletter reconcile`` an hour later (the provider's log complete by then), then ``send``:
    0 unknown, 0 duplicates, 0 missing."""
    with open_engine(database_url).begin() as conn:
        unknown = conn.execute(
            select(deliveries.c.id, deliveries.c.updated_at).where(deliveries.c.state == "unknown")
        )
        for delivery_id, moment in unknown.all():
            conn.execute(
                update(deliveries)
                .where(deliveries.c.id == delivery_id)
                .values(updated_at=moment - timedelta(hours=1))
            )
    for step in (["reconcile", ISSUE, "--list", "erhverv"], ["send", ISSUE, "--list", "erhverv", "--yes"]):
        run = subprocess.run(
            [*NEWSLETTER, "--config", str(config), *step],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert run.returncode == 0, f"{step[0]} (seed {seed}): {run.stdout} {run.stderr}"
    received = server.count_by_address()
    assert set(_ledger(database_url).values()) == {"sent"}, f"seed {seed}"
    assert [p for p in people if received[p] != 1] == [], f"seed {seed}: not exactly once"


@pytest.mark.slow
def test_ctrl_c_finishes_the_batch_in_flight_and_says_how_to_resume(tmp_path: Path, sqlite_url: str) -> None:
    with _emulator("postmark") as (emulator, where):
        config = write_settings(tmp_path / "project", sqlite_url, "postmark", **where, batch_size=BATCH)
        _slow_down(emulator)
        people = addresses(300)
        subscribe_many(open_engine(sqlite_url), people)
        command = [*NEWSLETTER, "--config", str(config), "send", ISSUE, "--list", "erhverv", "--yes"]
        env = _environment("postmark")
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        _wait_until_sending(sqlite_url, process)
        time.sleep(0.3)
        process.send_signal(signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=30)
        assert process.returncode == 7, stderr
        assert "Stopping after the batches in flight are recorded" in stderr
        assert f"resume with: newsletter send {ISSUE} --list erhverv" in stderr
        states = list(_ledger(sqlite_url).values())
        assert "sending" not in states and "unknown" not in states  # nothing left ambiguous
        received = emulator.count_by_address()
        assert sum(received.values()) == states.count("sent") > 0
        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert resumed.returncode == 0, resumed.stderr
        received = emulator.count_by_address()
        assert all(received[p] == 1 for p in people)


@pytest.mark.slow
def test_kill_nine_with_the_outbox_leaves_exactly_one_file_per_person(
    tmp_path: Path, sqlite_url: str
) -> None:
    """The demo's provider: each message is a file named after its ledger row, so a re-sent batch
    overwrites rather than duplicates — after the kills, exactly one complete file per person."""
    import email
    from email import policy

    config = write_settings(tmp_path / "project", sqlite_url, "outbox", batch_size=20)
    people = addresses(1500)
    subscribe_many(open_engine(sqlite_url), people)
    command = [*NEWSLETTER, "--config", str(config), "send", ISSUE, "--list", "erhverv", "--yes"]
    seed = int(os.environ.get("NEWSLETTER_KILL_SEED") or time.time_ns() % 2**32)
    rng = random.Random(seed)
    env = _environment()
    for _ in range(8):
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_until_sending(sqlite_url, process)
        time.sleep(rng.uniform(0.0, 0.4))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
    final = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert final.returncode == 0, f"seed {seed}: {final.stderr}"

    folder = tmp_path / "project" / "outbox" / ISSUE
    recipients: dict[str, int] = {}
    for path in folder.glob("*.eml"):
        if path.name.startswith(".tmp-"):
            continue  # a write a kill interrupted: never moved into place, never a message
        message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
        assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
        address = message["To"].addresses[0].addr_spec
        recipients[address] = recipients.get(address, 0) + 1
    assert sorted(recipients) == sorted(people), f"seed {seed}"
    assert set(recipients.values()) == {1}, f"seed {seed}"
    assert set(_ledger(sqlite_url).values()) == {"sent"}, f"seed {seed}"
