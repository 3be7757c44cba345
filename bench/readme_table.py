"""The README's benchmark table, made from ``bench/results/*.json``: ``python -m bench.readme_table``.

Every results file with ``rows`` (what a benchmark's :class:`~bench.measure.Results`
saved) gives one table line per row: the work, the project's median with its
min–max, the peer's, their ratio, the target and whether it was met. Above the
table one line says when and on what the figures were measured (date, core
count, load average at the end of each benchmark), from the same files. Only
the text between :data:`START` and :data:`END` in README.md is replaced;
the prose around it is the author's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from bench.measure import RESULTS, Row, load_all

README = Path(__file__).resolve().parent.parent / "README.md"
START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
HEADER = (
    "| work | project (median, min–max) | peer (median, min–max) | ratio | target | met |\n"
    "|---|---|---|---|---|---|"
)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table_line(row: Row) -> str:
    work = f"{row.work} — {row.note}" if row.note else row.work
    peer = f"{row.peer_label or 'peer'}: {row.peer.shown(row.unit)}" if row.peer is not None else ""
    ratio = f"{row.ratio:.2f}×" if row.ratio is not None else ""
    met = {True: "yes", False: "**no**", None: ""}[row.met]
    cells = (work, row.project.shown(row.unit), peer, ratio, row.target, met)
    return "| " + " | ".join(cell(text) for text in cells) + " |"


def spread_text(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:g}" if low == high else f"{low:g}–{high:g}"


def measured_line(results: dict[str, dict[str, Any]]) -> str:
    """When, on how many cores and under what load the figures in ``results`` were measured."""
    by_date: dict[str, list[str]] = {}
    for name, data in results.items():
        by_date.setdefault(str(data.get("date", "undated")), []).append(name)
    dates = "; ".join(f"{day} ({', '.join(names)})" for day, names in sorted(by_date.items()))
    machines = [data.get("machine", {}) for data in results.values()]
    cores = sorted({str(machine.get("cores", "?")) for machine in machines})
    pythons = sorted({str(machine["python"]) for machine in machines if machine.get("python")})
    loads = [float(machine["load_average"][0]) for machine in machines if machine.get("load_average")]
    parts = [f"Measured {dates}", f"on {' / '.join(cores)} cores"]
    if pythons:
        parts.append(f"Python {', '.join(pythons)}")
    if loads:
        parts.append(f"one-minute load average {spread_text(loads)} at the end of each benchmark")
    return ", ".join(parts) + "."


def benchmark_table(results: dict[str, dict[str, Any]]) -> str:
    """The markdown that goes between the markers: the measured-on line and the table."""
    with_rows = {name: data for name, data in results.items() if data.get("rows")}
    if not with_rows:
        return "No benchmark results with rows yet: run `make bench`."
    lines = [measured_line(with_rows), "", HEADER]
    for data in with_rows.values():
        lines.extend(table_line(Row.from_dict(row)) for row in data["rows"])
    return "\n".join(lines)


def replace_table(readme: str, table: str) -> str:
    """``readme`` with the text between :data:`START` and :data:`END` replaced by ``table``."""
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start or readme.count(START) != 1 or readme.count(END) != 1:
        raise ValueError(f"README.md needs one {START} line and, after it, one {END} line")
    return readme[: start + len(START)] + "\n" + table + "\n" + readme[end:]


def main(readme: Path = README, results_folder: Path = RESULTS) -> int:
    results = load_all(results_folder)
    skipped = sorted(name for name, data in results.items() if not data.get("rows"))
    try:
        updated = replace_table(readme.read_text(encoding="utf-8"), benchmark_table(results))
    except ValueError as exc:
        print(f"{readme}: {exc}", file=sys.stderr)
        return 1
    readme.write_text(updated, encoding="utf-8")
    used = len(results) - len(skipped)
    print(f"{readme}: benchmark table from {used} results file(s) in {results_folder}")
    if skipped:
        print(f"  without rows, left out: {', '.join(skipped)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
