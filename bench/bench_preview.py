"""Save-to-preview latency: from writing the issue file to the preview serving the new render.

End to end, as an author experiences it: the sample issue is copied into a
temporary project, the preview server runs with its file watcher, a client
listens on the SSE stream like the page does, and each round writes a changed
sentence to the issue, waits for the ``render`` event and fetches
``/email.html`` until it holds the new sentence. Target: under 500 ms for
every save.

Peer: the same text parsed and rendered bare, in this process (no watcher,
no build of the preview's files, no HTTP), once after each save, so the ratio
says what the preview adds to the render itself.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from dataclasses import asdict
from pathlib import Path

import httpx

from bench.measure import Results, Row, Spread, interleave
from newsletter.config import load_settings
from newsletter.issue import parse_issue
from newsletter.preview.app import create_app
from newsletter.preview.server import serve_in_thread
from newsletter.preview.snapshot import Builder
from newsletter.render import render_issue

REPO = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
SENTENCE = "2019 har givet erhvervsområdet i Ballerup nye muligheder"
ROUNDS = 25
TARGET_MS = 500.0


def _project(folder: Path) -> Path:
    for name in ("templates", "issues"):
        shutil.copytree(REPO / name, folder / name)
    settings = folder / "newsletter.toml"
    shutil.copyfile(REPO / "newsletter.toml", settings)
    return settings


def _listen(url: str, events: queue.Queue[float], stop: threading.Event) -> None:
    try:
        with httpx.stream("GET", f"{url}/events", timeout=None) as response:
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data:"):
                    events.put(time.perf_counter())
    except httpx.HTTPError:
        if not stop.is_set():
            raise


def main() -> Results:
    with tempfile.TemporaryDirectory(prefix="nl-bench-preview-") as folder:
        settings = load_settings(_project(Path(folder)))
        issue = settings.issues_dir / f"{SAMPLE}.md"
        original = issue.read_text(encoding="utf-8")
        builder = Builder(issue_path=issue, settings=settings)
        events: queue.Queue[float] = queue.Queue()
        stop = threading.Event()
        event_latencies: list[float] = []
        builds: list[float] = []
        saved = [original]
        with serve_in_thread(create_app(builder)) as url, httpx.Client(base_url=url) as client:
            threading.Thread(target=_listen, args=(url, events, stop), daemon=True).start()
            events.get(timeout=10)  # the stream's first event: the initial build
            time.sleep(0.3)  # let the watcher settle before the first save

            def save_to_new_render() -> float:
                marker = f"Bench-runde {len(builds)} ændret"
                saved[0] = original.replace(SENTENCE, marker)
                started = time.perf_counter()
                issue.write_text(saved[0], encoding="utf-8")
                event_latencies.append((events.get(timeout=10) - started) * 1000)
                while marker not in client.get("/email.html").text:
                    events.get(timeout=10)  # a rebuild of an earlier save: wait for the next
                elapsed = (time.perf_counter() - started) * 1000
                builds.append(client.get("/state.json").json()["build_seconds"] * 1000)
                time.sleep(0.1)  # an author does not save ten times a second
                return elapsed

            def bare_render() -> float:
                started = time.perf_counter()
                render_issue(parse_issue(issue, saved[0], settings), settings)
                return (time.perf_counter() - started) * 1000

            spreads = interleave(ROUNDS, {"preview": save_to_new_render, "bare": bare_render})
            stop.set()
    latency = spreads["preview"]
    results = Results("preview")
    results.add(
        Row(
            work=f"save an issue → the preview serves its new render ({ROUNDS} saves of the sample issue)",
            unit="ms",
            project=latency,
            peer=spreads["bare"],
            peer_label="parse + render in-process",
            target=f"every save < {TARGET_MS:.0f} ms",
            met=latency.max < TARGET_MS,
        )
    )
    results.figures = {
        "rounds": ROUNDS,
        "save_to_sse_event_ms": asdict(Spread.of(event_latencies)),
        "rebuild_ms": asdict(Spread.of(builds)),
    }
    print(f"  save → SSE event: {Spread.of(event_latencies).shown('ms')}")
    print(f"  the server's rebuild: {Spread.of(builds).shown('ms')}")
    return results


if __name__ == "__main__":
    main()
