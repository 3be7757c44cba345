"""A whole send — plan, claim, merge, post, record — to 100,000 subscribers through the emulator.

Figures (``python -m bench send``):

- ``send_messages_per_second``: the send engine end to end (ledger claim and
  record on SQLite, per-recipient links and tokens, Postmark adapter, HTTP
  over loopback to the emulator in its own process), batches of 500, two
  requests in flight. Target: at least 2,000/s on a 2-core machine.
- ``bare_messages_per_second``: only posting one pre-built 500-message
  request (captured from the same adapter) as many times, with the same
  concurrency — the ceiling the emulator and loopback allow. Their ratio is
  the pipeline's overhead.
- ``peak_rss_mb`` for a send to 10,000 and to 100,000: each send runs in a
  fresh process (the subscribers are created by another one), so the
  high-water mark is the send's own. Flat means the send streams.

``BENCH_SEND_MESSAGES`` changes the large run (default 100,000).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

TOKEN = "bench-postmark-token-0123456789"
SECRET = "bench-signing-key-0123456789abcdef"
BATCH = 500
CONCURRENCY = 2
HTML_KB = 15


@contextlib.contextmanager
def emulator_process() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--record", "counts", f"--key=postmark={TOKEN}"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.kill()
        process.wait()


def _settings(folder: Path, url: str) -> Any:
    from newsletter.config import settings_from_dict

    return settings_from_dict(
        {
            "organisation": {"name": "BusinessBallerup", "address": "Hold-An Vej 7, 2750 Ballerup"},
            "sender": {"name": "BusinessBallerup", "email": "nyhedsbrev@example.org"},
            "site": {"base_url": "https://nyhedsbrev.example.org"},
            "database": {"url": f"sqlite:///{folder / 'bench.db'}"},
            "provider": {
                "name": "postmark",
                "base_url": url,
                "batch_size": BATCH,
                "concurrency": CONCURRENCY,
            },
        },
        root=folder,
    )


def setup(count: int, folder: Path) -> dict[str, Any]:
    """Create the database with ``count`` subscribers (its own process, so its memory does not count)."""
    from newsletter.store.db import open_engine
    from tests.send.helpers import addresses, subscribe_many

    started = time.perf_counter()
    subscribe_many(
        open_engine(_settings(folder, "http://unused").database_url), addresses(count), chunk=10_000
    )
    return {"setup_seconds": round(time.perf_counter() - started, 1)}


def send(count: int, folder: Path, url: str) -> dict[str, Any]:
    """Plan and send to the ``count`` subscribers in ``folder``'s database, in this fresh process."""
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    os.environ["NEWSLETTER_POSTMARK_TOKEN"] = TOKEN
    from newsletter.providers.registry import make_provider
    from newsletter.send.service import SendOptions, execute_send
    from newsletter.store.db import open_engine
    from tests.send.helpers import hand_made_issue

    settings = _settings(folder, url)
    db = open_engine(settings.database_url)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    provider = make_provider(settings.provider)
    started = time.perf_counter()
    totals = execute_send(db, settings, hand_made_issue(html_kb=HTML_KB), "erhverv", provider, SendOptions())
    whole = time.perf_counter() - started
    provider.close()
    assert totals.sent == count, totals
    return {
        "messages": count,
        "plan_and_send_seconds": round(whole, 1),
        "send_seconds": round(totals.elapsed, 1),
        "send_messages_per_second": round(count / totals.elapsed),
        "requests": totals.requests,
        "rss_mb_before_send": round(rss_before),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def _child(*args: str) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.bench_send", *args], capture_output=True, text=True, check=True
    ).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def _run_child(count: int, url: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        prepared = _child("--setup", str(count), folder)
        return {**prepared, **_child("--send", str(count), folder, url)}


def bare(count: int, url: str) -> dict[str, Any]:
    """Post one pre-built 500-message Postmark request ``count / 500`` times, ``CONCURRENCY`` at a time."""
    os.environ["NEWSLETTER_SECRET_KEY"] = SECRET
    from newsletter.message import Batch
    from newsletter.providers.postmark import PostmarkProvider
    from newsletter.send.ledger import ClaimedRow
    from newsletter.send.recipients import RecipientBuilder
    from tests.send.helpers import hand_made_issue

    captured: dict[str, Any] = {}

    def capture(request: httpx.Request) -> httpx.Response:
        captured.update(path=request.url.path, body=request.content, headers=dict(request.headers))
        return httpx.Response(200, json=[{"ErrorCode": 0, "MessageID": f"m{i}"} for i in range(BATCH)])

    with tempfile.TemporaryDirectory() as folder:
        settings = _settings(Path(folder), url)
        builder = RecipientBuilder(settings, issue="bench", list_id=1, list_name="bench", list_title="Bench")
        # The recipients a real send builds from its ledger rows.
        rows = [
            ClaimedRow(i, i, f"bare{i}@example.com", None, "da", 0, f"link-key-{i:07d}") for i in range(BATCH)
        ]
        recipients = [builder.for_row(row) for row in rows]
        provider = PostmarkProvider(
            httpx.Client(transport=httpx.MockTransport(capture)), "http://mock", server_token=TOKEN
        )
        provider.send_batch(Batch(hand_made_issue(html_kb=HTML_KB).content, recipients, "bench"))
    requests = max(1, count // BATCH)
    headers = {k: v for k, v in captured["headers"].items() if k.lower() not in ("host", "content-length")}
    with httpx.Client(base_url=url, timeout=60, limits=httpx.Limits(max_connections=CONCURRENCY)) as client:

        def post(_: int) -> None:
            client.post(captured["path"], content=captured["body"], headers=headers).raise_for_status()

        started = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(post, range(requests)))
        elapsed = time.perf_counter() - started
    return {
        "messages": requests * BATCH,
        "request_bytes": len(captured["body"]),
        "bare_messages_per_second": round(requests * BATCH / elapsed),
    }


def main() -> dict[str, Any]:
    large = int(os.environ.get("BENCH_SEND_MESSAGES", "100000"))
    with emulator_process() as url:
        small_run = _run_child(10_000, url)
        print(f"send 10k:  {small_run}")
        large_run = _run_child(large, url)
        print(f"send {large // 1000}k: {large_run}")
        bare_run = bare(large // 2, url)
        print(f"bare:      {bare_run}")
    figures = {
        "provider": "postmark (emulator, separate process)",
        "batch_size": BATCH,
        "concurrency": CONCURRENCY,
        "html_kb": HTML_KB,
        "send_messages_per_second": large_run["send_messages_per_second"],
        "bare_messages_per_second": bare_run["bare_messages_per_second"],
        "overhead_ratio": round(
            bare_run["bare_messages_per_second"] / large_run["send_messages_per_second"], 2
        ),
        "peak_rss_mb_10k": small_run["peak_rss_mb"],
        f"peak_rss_mb_{large // 1000}k": large_run["peak_rss_mb"],
        "runs": {"10k": small_run, f"{large // 1000}k": large_run, "bare": bare_run},
    }
    print(json.dumps({k: v for k, v in figures.items() if k != "runs"}, indent=2))
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["--setup"]:
        print(json.dumps(setup(int(sys.argv[2]), Path(sys.argv[3]))))
    elif sys.argv[1:2] == ["--send"]:
        print(json.dumps(send(int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))
    else:
        main()
