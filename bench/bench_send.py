"""A whole send of the real sample issue through the Postmark API to the local emulator.

Rows (``python -m bench send``):

- ``send 100,000``: the send end to end — plan on SQLite, claim and record in the ledger,
  signed links and headers per recipient, the Postmark adapter, HTTP over loopback to the
  emulator in its own process — in batches of 500 with two requests in flight, against the
  bare loop: one 500-message request, captured from the same adapter for the same issue,
  posted as many times with the same concurrency to the same emulator (the ceiling the
  emulator and loopback allow). The two alternate, round by round (:func:`interleave`).
- ``peak RSS of a send`` to 10,000, 100,000 and 300,000 subscribers: each send runs in a
  fresh process started through a shell (Linux carries a parent's peak RSS across fork and
  exec; the shell's own fork gives the send a clean high-water mark), and renders and checks
  the issue itself, as ``newsletter send`` does. Flat means the send streams.

The issue is ``issues/2019-12-20-tak-for-et-godt-2019`` rendered by the project (about 41 KB
of HTML). Each size's subscribers are seeded once by another process; every send starts from
a fresh copy of that database. Figures beside the rows: the memory before the send loop
(libraries and the rendered issue), and the 100,000 send with the requests left out (the
adapter answers "accepted" without building them): what the engine and the ledger hold.

``BENCH_SEND_MESSAGES`` scales the middle size (default 100,000; the others are a tenth and
three times it); ``BENCH_SEND_ROUNDS`` sets the rounds of the 100,000 send and its peer (3).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from bench.measure import Results, Row, Spread, interleave, ratio_target
from newsletter.config import Settings, settings_from_dict
from newsletter.message import Batch
from newsletter.providers.base import Outcome, RecipientResult
from newsletter.providers.postmark import PostmarkProvider
from newsletter.providers.registry import make_provider
from newsletter.send.ledger import ClaimedRow
from newsletter.send.recipients import RecipientBuilder
from newsletter.send.service import SendOptions, execute_send, prepare_issue
from newsletter.store.db import open_engine
from tests.send.helpers import addresses, subscribe_many

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
LIST = "erhverv"
TOKEN = "bench-postmark-token-0123456789"
SECRET = "bench-signing-key-0123456789abcdef"
BATCH = 500
CONCURRENCY = 2
RSS_TARGET_MB = 150
# "Flat": the largest send's peak within this share of the smallest's.
FLAT_WITHIN = 0.10


def settings_for(database: Path, url: str) -> Settings:
    """The project's newsletter.toml, with a benchmark database and Postmark at the emulator."""
    data = tomllib.loads((ROOT / "newsletter.toml").read_text(encoding="utf-8"))
    data["database"] = {"url": f"sqlite:///{database}"}
    data["provider"] = {"name": "postmark", "base_url": url, "batch_size": BATCH, "concurrency": CONCURRENCY}
    return settings_from_dict(data, root=ROOT)


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--record", "counts", f"--key=postmark={TOKEN}"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()


# -- in a child process -------------------------------------------------------------------------


def seed(count: int, database: Path) -> None:
    """``count`` subscribed people on one list (another process: its memory does not count)."""
    subscribe_many(open_engine(settings_for(database, "http://unused").database_url), addresses(count), LIST)


def send(database: Path, url: str, *, without_requests: bool) -> dict[str, Any]:
    """Render, check, plan and send the sample issue to everyone in ``database``, in this fresh process."""
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    os.environ["NEWSLETTER_POSTMARK_TOKEN"] = TOKEN
    settings = settings_for(database, url)
    prepared = prepare_issue(settings, SAMPLE)
    provider = make_provider(settings.provider)
    if without_requests:
        provider = AcceptedUnbuilt(None, url, server_token=TOKEN)
    rss_before = _status_mb("VmRSS")
    started = time.perf_counter()
    totals = execute_send(
        open_engine(settings.database_url), settings, prepared, LIST, provider, SendOptions()
    )
    whole = time.perf_counter() - started
    provider.close()
    assert totals.error is None and totals.counts["queued"] == 0, totals
    return {
        "messages": totals.sent,
        "plan_and_send_seconds": round(whole, 1),
        "send_seconds": round(totals.elapsed, 1),
        "messages_per_second": totals.sent / totals.elapsed,
        "requests": totals.requests,
        "rss_before_send_mb": round(rss_before),
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "html_bytes": len(prepared.content.html.encode()),
    }


class AcceptedUnbuilt(PostmarkProvider):
    """Postmark's limits and name, but every message taken without building a request."""

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        return [RecipientResult(Outcome.ACCEPTED, message_id=f"m{i}") for i in range(len(batch.recipients))]


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


# -- in the benchmark's own process ---------------------------------------------------------------


def _child(*args: str) -> dict[str, Any]:
    # Through a shell that forks again: the child's peak RSS starts from the shell's, not ours.
    output = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-m", "bench.bench_send", *args],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def send_in_child(
    template: Path, folder: Path, url: str, *, without_requests: bool = False
) -> dict[str, Any]:
    """A send to a fresh copy of the seeded database ``template``."""
    database = folder / "send.db"
    shutil.copyfile(template, database)
    try:
        return _child("--send", str(database), url, *(["--without-requests"] if without_requests else []))
    finally:
        database.unlink()


def prebuilt_request(url: str) -> tuple[str, bytes, dict[str, str]]:
    """The request the Postmark adapter posts for 500 recipients of the sample issue, as a send builds them."""
    os.environ.setdefault("NEWSLETTER_SECRET_KEY", SECRET)
    captured: dict[str, Any] = {}

    def capture(request: httpx.Request) -> httpx.Response:
        captured.update(path=request.url.path, body=request.content, headers=dict(request.headers))
        return httpx.Response(200, json=[{"ErrorCode": 0, "MessageID": f"m{i}"} for i in range(BATCH)])

    with tempfile.TemporaryDirectory() as folder:
        settings = settings_for(Path(folder) / "unused.db", url)
        prepared = prepare_issue(settings, SAMPLE, run_checks=False)
        builder = RecipientBuilder(
            settings, issue=prepared.slug, list_id=1, list_name=LIST, lang=prepared.lang
        )
        rows = [
            ClaimedRow(i, i, f"person{i:06d}@example.com", f"Person {i}", "da", 1, f"link-key-{i:08d}")
            for i in range(BATCH)
        ]
        provider = PostmarkProvider(
            httpx.Client(transport=httpx.MockTransport(capture)), "http://mock", server_token=TOKEN
        )
        provider.send_batch(Batch(prepared.content, [builder.for_row(row) for row in rows], "bench"))
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in ("host", "content-length")}
    return captured["path"], captured["body"], headers


def bare_loop(url: str, request: tuple[str, bytes, dict[str, str]], messages: int) -> float:
    """Messages per second of posting the pre-built request ``messages / 500`` times, two at a time."""
    path, body, headers = request
    requests = max(1, messages // BATCH)
    with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

        def post(_: int) -> None:
            client.post(path, content=body, headers=headers).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(post, range(requests)))
        return requests * BATCH / (time.perf_counter() - started)


def main() -> Results:
    middle = int(os.environ.get("BENCH_SEND_MESSAGES", "100000"))
    rounds = int(os.environ.get("BENCH_SEND_ROUNDS", "3"))
    sizes = (middle // 10, middle, 3 * middle)
    runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
    with tempfile.TemporaryDirectory() as name, emulator_process() as url:
        folder = Path(name)
        templates = {}
        for size in sizes:
            templates[size] = folder / f"seeded-{size}.db"
            _child("--seed", str(size), str(templates[size]))
        request = prebuilt_request(url)

        def project() -> float:
            run = send_in_child(templates[middle], folder, url)
            runs[middle].append(run)
            return float(run["messages_per_second"])

        rates = interleave(rounds, {"project": project, "bare": lambda: bare_loop(url, request, middle)})
        for _ in range(rounds):
            runs[sizes[0]].append(send_in_child(templates[sizes[0]], folder, url))
        runs[sizes[2]].append(send_in_child(templates[sizes[2]], folder, url))
        unbuilt = send_in_child(templates[middle], folder, url, without_requests=True)

    results = Results("send")
    speed = Row(
        f"send {middle:,}, Postmark API, real sample issue",
        "msg/s",
        rates["project"],
        rates["bare"],
        peer_label="bare loop posting the same pre-built batch",
        higher_is_better=True,
        target="≥ 0.6×",
    )
    results.add(replace(speed, met=ratio_target(speed.ratio, at_least=0.6)))
    peaks = {size: Spread.of([run["peak_rss_mb"] for run in runs[size]]) for size in sizes}
    flat = peaks[sizes[2]].median <= peaks[sizes[0]].median * (1 + FLAT_WITHIN)
    for size in sizes:
        results.add(
            Row(
                f"peak RSS of a send, {size:,} recipients",
                "MB",
                peaks[size],
                target=f"≤ {RSS_TARGET_MB} MB, flat",
                met=peaks[size].median <= RSS_TARGET_MB and flat,
                note=f"flat: the {sizes[2]:,} send within {FLAT_WITHIN:.0%} of the {sizes[0]:,} send",
            )
        )
    before = [run["rss_before_send_mb"] for size in sizes for run in runs[size]]
    results.figures.update(
        {
            "html_bytes": runs[middle][0]["html_bytes"],
            "batch_size": BATCH,
            "concurrency": CONCURRENCY,
            "request_bytes": len(request[1]),
            "rss_before_send_loop_mb": statistics.median(before),
            f"peak_rss_mb_{middle}_without_requests": unbuilt["peak_rss_mb"],
            "runs": {str(size): runs[size] for size in sizes},
        }
    )
    print(
        f"  memory before the send loop: {statistics.median(before):.0f} MB; the {middle:,} send without "
        f"building requests peaks at {unbuilt['peak_rss_mb']} MB"
    )
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--seed"]:
        seed(int(sys.argv[2]), Path(sys.argv[3]))
        print("{}")
    elif sys.argv[1:2] == ["--send"]:
        result = send(Path(sys.argv[2]), sys.argv[3], without_requests="--without-requests" in sys.argv[4:])
        print(json.dumps(result))
    else:
        main()
