"""Subscriber store: import 100,000 CSV rows against the database's own bulk path; stream audiences.

Import (issue 13): the project's ``import_csv`` and a bare *peer* take the same
100,000-row CSV file (a Danish Excel export: ``;``-separated, æøå names, two
attribute columns) into a fresh database, in interleaved rounds. The peer is the
least that leaves the same rows behind: it reads the file with the standard
``csv`` module (trim the address, hash it lower-cased, the other columns as
attributes, no validation) and writes ``subscribers``, ``memberships`` and the
consent log's line for each person in one transaction — ``COPY`` on PostgreSQL,
``executemany`` on SQLite, straight through the driver. The import does
everything it promises on top: validation, the duplicate check, suppressions
and unsubscriptions, commits of 1,000 rows growing to 16,000. Target: the import takes at most
1.5× the peer's time. The peer's writing alone (the parsed rows already in memory) is
reported beside it, and on SQLite the import as one commit: the difference is what
committing as it goes costs there. Five rounds: on this shared machine one slow round
moves the median of three.

Memory: the import of 10,000, 100,000 and 300,000 rows, each in a fresh process;
its peak RSS must not grow with the file (flat: the largest within 10 % of the smallest).

Streaming (issue 3): streaming an audience does not use more memory for a bigger
list. Each stream runs in a fresh subprocess, so its peak RSS (``ru_maxrss``) is
its own; an empty list gives the baseline of the interpreter plus the libraries.

PostgreSQL is measured when ``NEWSLETTER_TEST_DATABASE_URL`` names a server, each
sample on a throwaway database of its own.

Run: ``.venv/bin/python -m bench store``
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.measure import Results, Row, Spread, interleave, ratio_target, seconds_of
from bench.seeding import FIRST_NAMES, LAST_NAMES, PG_ENV, ROWS, throwaway_database
from newsletter.store import db
from newsletter.store.audience import iter_audience
from newsletter.store.imports import import_csv
from newsletter.store.lists import create_list, get_list, utcnow
from newsletter.store.schema import new_link_key

SMALL = 10_000
LARGEST = 300_000
FLAT_WITHIN = 0.10
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


def _in_child(*arguments: str) -> dict[str, Any]:
    """Run ``bench.bench_store ARGUMENTS`` in a fresh process and return the JSON it prints."""
    # Linux carries a process's peak RSS across fork + exec, so a child started straight
    # from this (large) process would report our peak, not its own. Going through a shell
    # that forks again gives the child a clean high-water mark.
    output = subprocess.run(
        ["/bin/sh", "-c", '"$@"; exit $?', "sh", sys.executable, "-m", "bench.bench_store", *arguments],
        check=True,
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def _stream_in_child(url: str, list_name: str) -> dict[str, Any]:
    return _in_child("stream", url, list_name)


def _import_in_child(csv_path: Path) -> dict[str, Any]:
    """Run in a child process: import ``csv_path`` into a fresh SQLite database, report peak RSS."""
    with tempfile.TemporaryDirectory() as folder:
        engine = _fresh_list(f"sqlite:///{folder}/import.db")
        hwm_reset = _reset_peak_rss()
        summary = import_csv(engine, csv_path, "stor")
        db.dispose_all()
    return {
        "added": summary.added,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "importing_peak_rss_mb": _status_mb("VmHWM") if hwm_reset else None,
        "rss_before_importing_mb": hwm_reset,
    }


def _fresh_list(url: str) -> Any:
    """The migrated database at ``url`` with an empty list 'stor'; its engine."""
    engine = db.open_engine(url)
    with engine.begin() as conn:
        create_list(conn, "stor", "Benchmark stor")
    return engine


# --- the peer: the same file into subscribers and memberships, one transaction ------------


def _peer_rows(csv_path: Path) -> list[tuple[Any, ...]]:
    """The file's people as subscriber rows, read the bare way: no validation, no duplicate check."""
    now = utcnow()
    with csv_path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle, delimiter=";")
        _email, _name, *attribute_names = next(reader)
        rows = []
        for email, name, *values in reader:
            address = email.strip()
            attributes = json.dumps(dict(zip(attribute_names, values, strict=True)))
            hashed = hashlib.sha256(address.lower().encode()).hexdigest()
            rows.append((address, hashed, name, "da", attributes, "active", now, now, new_link_key(), False))
    return rows


_PEER_COLUMNS = (
    "email, email_hash, name, language, attributes, status, created_at, updated_at, link_key, v1_links"
)


_CONSENT_COLUMNS = "subscriber_id, list_id, action, method, source, consent_text, ip, at"


def _consent_row(subscriber_id: int, list_id: int, line: int, at: object) -> tuple[object, ...]:
    """The consent the import logs for a row it subscribes (the list has no consent text of its own)."""
    return (subscriber_id, list_id, "subscribe", "import", f"stor.csv line {line}", "", None, at)


def _peer_write(engine: Any, rows: list[tuple[Any, ...]]) -> None:
    """``rows`` into subscribers, memberships and the consent log of list 'stor' in one transaction."""
    with engine.connect() as conn:
        list_id = get_list(conn, "stor").id
        conn.commit()
        driver = conn.connection.driver_connection
        if engine.dialect.name == "postgresql":
            with driver.cursor() as cursor:
                with cursor.copy(f"COPY subscribers ({_PEER_COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                ids = [row[0] for row in cursor.execute("SELECT id FROM subscribers ORDER BY id")]
                now = utcnow()
                with cursor.copy(
                    "COPY memberships (subscriber_id, list_id, state, created_at, updated_at) FROM STDIN"
                ) as copy:
                    for subscriber_id in ids:
                        copy.write_row((subscriber_id, list_id, "subscribed", now, now))
                with cursor.copy(f"COPY consent_log ({_CONSENT_COLUMNS}) FROM STDIN") as copy:
                    for line, subscriber_id in enumerate(ids, start=2):
                        copy.write_row(_consent_row(subscriber_id, list_id, line, now))
            driver.commit()
            return
        # SQLite keeps timestamps as text; the peer writes them as SQLAlchemy would.
        stamp = rows[0][6].strftime("%Y-%m-%d %H:%M:%S.%f") if rows else ""
        driver.executemany(
            f"INSERT INTO subscribers ({_PEER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            ((*row[:6], stamp, stamp, *row[8:]) for row in rows),
        )
        ids = [row[0] for row in driver.execute("SELECT id FROM subscribers ORDER BY id")]
        driver.executemany(
            "INSERT INTO memberships (subscriber_id, list_id, state, created_at, updated_at) "
            "VALUES (?, ?, 'subscribed', ?, ?)",
            ((subscriber_id, list_id, stamp, stamp) for subscriber_id in ids),
        )
        driver.executemany(
            f"INSERT INTO consent_log ({_CONSENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                _consent_row(subscriber_id, list_id, line, stamp)
                for line, subscriber_id in enumerate(ids, start=2)
            ),
        )
        driver.commit()


# --- one sample each, on a fresh database ---------------------------------------------------


@contextmanager
def _fresh_database(backend: str) -> Iterator[str]:
    """The URL of an empty database: a new SQLite file, or a throwaway PostgreSQL database."""
    if backend == "postgresql":
        with throwaway_database(os.environ[PG_ENV]) as url:
            yield url
        return
    with tempfile.TemporaryDirectory() as folder:
        yield f"sqlite:///{folder}/bench.db"
        db.dispose_all()


def _import_sample(backend: str, csv_path: Path, chunk_size: int | None = None) -> float:
    """One import into a fresh database; ``chunk_size`` None: the product's own growing chunks."""
    with _fresh_database(backend) as url:
        engine = _fresh_list(url)
        summary_holder: list[Any] = []
        seconds = seconds_of(
            lambda: summary_holder.append(import_csv(engine, csv_path, "stor", chunk_size=chunk_size))
        )
        db.dispose_all()
    assert summary_holder[0].added == ROWS, summary_holder[0].describe()
    return seconds


def _peer_sample(backend: str, csv_path: Path, write_only: list[float]) -> float:
    with _fresh_database(backend) as url:
        engine = _fresh_list(url)
        started = time.perf_counter()
        rows = _peer_rows(csv_path)
        parsed = time.perf_counter()
        _peer_write(engine, rows)
        ended = time.perf_counter()
        db.dispose_all()
    assert len(rows) == ROWS
    write_only.append(ended - parsed)
    return ended - started


def _import_row(
    results: Results, backend: str, label: str, peer_label: str, csv_path: Path, rounds: int
) -> None:
    write_only: list[float] = []
    contenders: dict[str, Callable[[], float]] = {
        "import": lambda: _import_sample(backend, csv_path),
        "peer": lambda: _peer_sample(backend, csv_path, write_only),
    }
    if backend == "sqlite":
        # What committing as it goes costs: the same import as one commit (--chunk-size 100000).
        contenders["one commit"] = lambda: _import_sample(backend, csv_path, chunk_size=ROWS)
    spreads = interleave(rounds, contenders)
    ratio = spreads["import"].median / spreads["peer"].median
    results.add(
        Row(
            f"import {ROWS:,} rows, {label}",
            "s",
            spreads["import"],
            spreads["peer"],
            peer_label,
            target="≤ 1.5×",
            met=ratio_target(ratio, at_most=1.5),
            note=f"peer's writing alone (rows parsed): {Spread.of(write_only).shown('s')}",
        )
    )
    if "one commit" in spreads:
        results.add(
            Row(
                f"import {ROWS:,} rows in one commit (not the default), {label}",
                "s",
                spreads["one commit"],
                spreads["peer"],
                peer_label,
                note="the price of committing as it goes is the difference to the row above",
            )
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main(rounds: int = 5) -> Results:
    results = Results("store")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as folder:
        big_csv, small_csv = Path(folder) / "big.csv", Path(folder) / "small.csv"
        largest_csv = Path(folder) / "largest.csv"
        _write_csv(big_csv, ROWS)
        _write_csv(small_csv, SMALL)
        _write_csv(largest_csv, LARGEST)

        _import_row(results, "sqlite", "SQLite", "executemany, one transaction", big_csv, rounds)
        if os.environ.get(PG_ENV):
            _import_row(results, "postgresql", "PostgreSQL", "COPY, one transaction", big_csv, rounds)

        imported = {
            rows: _in_child("import", str(sheet))
            for rows, sheet in ((SMALL, small_csv), (ROWS, big_csv), (LARGEST, largest_csv))
        }
        assert [measured["added"] for measured in imported.values()] == [SMALL, ROWS, LARGEST]
        flat = imported[LARGEST]["peak_rss_mb"] <= imported[SMALL]["peak_rss_mb"] * (1 + FLAT_WITHIN)
        for rows, measured in imported.items():
            results.add(
                Row(
                    f"import {rows:,} rows, peak RSS of a fresh process",
                    "MB",
                    Spread.of([measured["peak_rss_mb"]]),
                    target="flat",
                    met=flat,
                    note=f"{measured['rss_before_importing_mb']:.1f} MB before the import began; flat: "
                    f"the {LARGEST:,}-row import within {FLAT_WITHIN:.0%} of the {SMALL:,}-row one",
                )
            )
        big_import, small_import = imported[ROWS], imported[SMALL]

        url = f"sqlite:///{folder}/stream.db"
        engine = db.open_engine(url)
        with engine.begin() as conn:
            for name in ("stor", "lille", "tom"):
                create_list(conn, name, f"Benchmark {name}")
        import_csv(engine, big_csv, "stor")
        rerun_seconds = seconds_of(lambda: import_csv(engine, big_csv, "stor"))
        import_csv(engine, small_csv, "lille")
        db.dispose_all()
        baseline = _stream_in_child(url, "tom")
        small = _stream_in_child(url, "lille")
        large = _stream_in_child(url, "stor")
        postgresql = _postgresql_stream(big_csv)
    assert (small["count"], large["count"]) == (SMALL, ROWS)

    results.figures = {
        "load_average_before": [round(value, 2) for value in load_before],
        "reimport_unchanged_seconds_sqlite": round(rerun_seconds, 2),
        "import_rss_growth_10k_to_100k_mb": round(big_import["peak_rss_mb"] - small_import["peak_rss_mb"], 1),
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
        "postgresql_stream": postgresql or f"not measured: set {PG_ENV} to a server URL",
    }
    for key, value in results.figures.items():
        print(f"  {key}: {value}")
    return results


def _postgresql_stream(csv_path: Path) -> dict[str, Any] | None:
    """A 100k stream on a throwaway PostgreSQL database, when a server is named."""
    if not os.environ.get(PG_ENV):
        return None
    with _fresh_database("postgresql") as url:
        engine = _fresh_list(url)
        import_csv(engine, csv_path, "stor")
        db.dispose_all()
        stream = _stream_in_child(url, "stor")
    return {
        "stream_100k_peak_rss_mb": round(stream["peak_rss_mb"], 1),
        "stream_100k_seconds": round(stream["seconds"], 2),
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["stream"]:
        print(json.dumps(_stream(sys.argv[2], sys.argv[3])))
    elif sys.argv[1:2] == ["import"]:
        print(json.dumps(_import_in_child(Path(sys.argv[2]))))
    else:
        main()
