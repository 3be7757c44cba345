"""Save-to-preview latency: from writing the issue file to the preview serving the new render.

End to end, as an author experiences it: the sample issue is copied into a
temporary project, the preview server runs with its file watcher, a client
listens on the SSE stream like the page does, and each round writes a changed
sentence to the issue, waits for the ``render`` event and fetches
``/email.html`` until it holds the new sentence. Target: under 500 ms.
"""

from __future__ import annotations

import queue
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from newsletter.config import load_settings
from newsletter.preview.app import create_app
from newsletter.preview.server import serve_in_thread
from newsletter.preview.snapshot import Builder

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


def main() -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="nl-bench-preview-") as folder:
        settings = load_settings(_project(Path(folder)))
        issue = settings.issues_dir / f"{SAMPLE}.md"
        original = issue.read_text(encoding="utf-8")
        builder = Builder(issue_path=issue, settings=settings)
        events: queue.Queue[float] = queue.Queue()
        stop = threading.Event()
        latencies: list[float] = []
        event_latencies: list[float] = []
        builds: list[float] = []
        with serve_in_thread(create_app(builder)) as url, httpx.Client(base_url=url) as client:
            threading.Thread(target=_listen, args=(url, events, stop), daemon=True).start()
            events.get(timeout=10)  # the stream's first event: the initial build
            time.sleep(0.3)  # let the watcher settle before the first save
            for number in range(ROUNDS):
                marker = f"Bench-runde {number} ændret"
                started = time.perf_counter()
                issue.write_text(original.replace(SENTENCE, marker), encoding="utf-8")
                event_latencies.append((events.get(timeout=10) - started) * 1000)
                while marker not in client.get("/email.html").text:
                    events.get(timeout=10)  # a rebuild of an earlier save: wait for the next
                latencies.append((time.perf_counter() - started) * 1000)
                builds.append(client.get("/state.json").json()["build_seconds"] * 1000)
                time.sleep(0.1)  # an author does not save ten times a second
            stop.set()
    latencies.sort()
    figures: dict[str, object] = {
        "rounds": ROUNDS,
        "save_to_new_render_ms_median": round(statistics.median(latencies), 1),
        "save_to_new_render_ms_p90": round(latencies[int(len(latencies) * 0.9) - 1], 1),
        "save_to_new_render_ms_max": round(latencies[-1], 1),
        "save_to_sse_event_ms_median": round(statistics.median(event_latencies), 1),
        "rebuild_ms_median": round(statistics.median(builds), 1),
        "target_ms": TARGET_MS,
        "meets_target": latencies[-1] < TARGET_MS,
    }
    for name, value in figures.items():
        print(f"  {name}: {value}")
    return figures


if __name__ == "__main__":
    main()
