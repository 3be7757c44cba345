"""Subscriber store: import 100,000 CSV rows, and stream audiences of 10k and 100k.

Targets (issue 3): the import takes under 10 s on SQLite on this machine, and
streaming an audience does not use more memory for a bigger list. Each
stream runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is its own;
an empty list gives the baseline of the interpreter plus the libraries.

With ``NEWSLETTER_TEST_DATABASE_URL`` set to a PostgreSQL server, the import
and the 100k stream are also measured on a throwaway database there.

Wall-clock time depends on what else the machine is doing, so the import's
own CPU time and the load average are reported beside it.

Run: ``.venv/bin/python -m bench store``
"""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.seeding import FIRST_NAMES, LAST_NAMES, PG_ENV, ROWS, throwaway_database

SMALL = 10_000
TOWNS = ("Ballerup", "Skovlunde", "Måløv", "Herlev", "Værløse")


def _write_csv(path: Path, rows: int, seed: int = 3) -> None:
    """A Danish-Excel-like sheet: ';'-separated, æøå names, two attribute columns."""
    chooser = random.Random(seed)
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        handle.write("E-mail;Navn;Firma;By\n")
        for number in range(rows):
            first, last = chooser.choice(FIRST_NAMES), chooser.choice(LAST_NAMES)
            handle.write(
                f"person{number}@firma{number % 997}.dk;{first} {last};Firma {number % 997} ApS;"
                f"{chooser.choice(TOWNS)}\n"
            )


def _stream(url: str, list_name: str) -> dict[str, Any]:
    """Run in a child process: stream one list's audience, report count, time and peak RSS."""
    from newsletter.store import db
    from newsletter.store.audience import iter_audience
    from newsletter.store.lists import get_list

    engine = db.open_engine(url)
    with engine.connect() as conn:
        list_id = get_list(conn, list_name).id
    # The process peak (ru_maxrss) is mostly the libraries; to see what streaming itself
    # holds, reset the kernel's high-water mark first (Linux: clear_refs 5) and read VmHWM after.
    hwm_reset = _reset_peak_rss()
    started = time.perf_counter()
    count = sum(1 for _ in iter_audience(engine, list_id))
    seconds = time.perf_counter() - started
    return {
        "count": count,
        "seconds": seconds,
        # Linux reports ru_maxrss in KiB.
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "streaming_peak_rss_mb": _status_mb("VmHWM") if hwm_reset else None,
        "rss_before_streaming_mb": hwm_reset,
    }


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _reset_peak_rss() -> float | None:
    """Reset VmHWM to the current RSS and return it (MB), or None where the kernel cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_mb("VmRSS")
    except OSError:
        return None


def _stream_in_child(url: str, list_name: str) -> dict[str, Any]:
    # Linux carries a process's peak RSS across fork + exec, so a child started straight
    # from this (large) process would report our peak, not its own. Going through a shell
    # that forks again gives the child a clean high-water mark.
    output = subprocess.run(
        [
            "/bin/sh",
            "-c",
            '"$@"; exit $?',
            "sh",
            sys.executable,
            "-m",
            "bench.bench_store",
            "stream",
            url,
            list_name,
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def _postgresql_figures(csv_path: Path) -> dict[str, Any] | None:
    """The same import and a 100k stream on a throwaway PostgreSQL database, when a server is named."""
    server = os.environ.get(PG_ENV)
    if not server:
        return None
    from newsletter.store import db
    from newsletter.store.imports import import_csv
    from newsletter.store.lists import create_list

    with throwaway_database(server) as url:
        engine = db.open_engine(url)
        with engine.begin() as conn:
            create_list(conn, "stor", "Benchmark stor")
        started = time.perf_counter()
        summary = import_csv(engine, csv_path, "stor")
        seconds = time.perf_counter() - started
        db.dispose_all()
        assert summary.added == ROWS, summary.describe()
        stream = _stream_in_child(url, "stor")
        return {
            "import_seconds": round(seconds, 2),
            "stream_100k_peak_rss_mb": round(stream["peak_rss_mb"], 1),
            "stream_100k_seconds": round(stream["seconds"], 2),
        }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> dict[str, Any]:
    from newsletter.store import db
    from newsletter.store.imports import import_csv
    from newsletter.store.lists import create_list

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        big_csv, small_csv = Path(folder) / "big.csv", Path(folder) / "small.csv"
        _write_csv(big_csv, ROWS)
        _write_csv(small_csv, SMALL)
        engine = db.open_engine(url)
        with engine.begin() as conn:
            for name in ("stor", "lille", "tom"):
                create_list(conn, name, f"Benchmark {name}")

        load_before = os.getloadavg()[0]
        started, cpu_started = time.perf_counter(), time.process_time()
        first = import_csv(engine, big_csv, "stor")
        import_seconds = time.perf_counter() - started
        import_cpu_seconds = time.process_time() - cpu_started
        started = time.perf_counter()
        again = import_csv(engine, big_csv, "stor")
        rerun_seconds = time.perf_counter() - started
        import_csv(engine, small_csv, "lille")
        db.dispose_all()
        assert first.added == ROWS and again.unchanged == ROWS, (first.describe(), again.describe())

        baseline = _stream_in_child(url, "tom")
        small = _stream_in_child(url, "lille")
        large = _stream_in_child(url, "stor")
        postgresql = _postgresql_figures(big_csv)
    assert (small["count"], large["count"]) == (SMALL, ROWS)

    figures = {
        "import_rows": ROWS,
        "import_seconds": round(import_seconds, 2),
        "import_cpu_seconds": round(import_cpu_seconds, 2),
        "import_rows_per_second": round(ROWS / import_seconds),
        # Other work on the machine stretches wall time; CPU time is what the import itself costs.
        "load_average_at_import": round(load_before, 2),
        "import_target_seconds": 10,
        "reimport_unchanged_seconds": round(rerun_seconds, 2),
        "stream_baseline_peak_rss_mb": round(baseline["peak_rss_mb"], 1),
        "stream_10k_peak_rss_mb": round(small["peak_rss_mb"], 1),
        "stream_100k_peak_rss_mb": round(large["peak_rss_mb"], 1),
        "stream_10k_seconds": round(small["seconds"], 2),
        "stream_100k_seconds": round(large["seconds"], 2),
        "stream_rss_growth_10k_to_100k_mb": round(large["peak_rss_mb"] - small["peak_rss_mb"], 1),
        # Peak RSS while streaming only (after the libraries are loaded), where the kernel allows it.
        "streaming_only_peak_rss_mb": {
            "empty": _rounded(baseline["streaming_peak_rss_mb"]),
            "10k": _rounded(small["streaming_peak_rss_mb"]),
            "100k": _rounded(large["streaming_peak_rss_mb"]),
        },
        "postgresql": postgresql or f"not measured: set {PG_ENV} to a server URL",
    }
    for key, value in figures.items():
        print(f"  {key}: {value}")
    return figures


if __name__ == "__main__":
    if sys.argv[1:2] == ["stream"]:
        print(json.dumps(_stream(sys.argv[2], sys.argv[3])))
    else:
        main()
