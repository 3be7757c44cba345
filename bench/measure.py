"""How every benchmark measures and reports: interleaved runs, min/median/max, ratios to a peer.

A figure alone says more about the machine than about the code, so each
benchmark measures the project's work and a *peer* — the bare minimum doing
the same work on the same input (a loop posting pre-built requests, ``COPY``,
``executemany``, importing a module), or a competing tool — in the same run,
alternating them round by round (:func:`interleave`) so that a burst of load
from another job falls on both. A :class:`Row` holds both spreads and their
ratio; :func:`save` writes the rows to ``bench/results/NAME.json``, and
``python -m bench.readme_table`` turns every results file into the README's
table, with the date and the machine's core count.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Spread:
    """Several samples of one figure: their minimum, median and maximum."""

    min: float
    median: float
    max: float
    runs: int

    @classmethod
    def of(cls, samples: list[float]) -> Spread:
        if not samples:
            raise ValueError("a spread needs at least one sample")
        return cls(min(samples), statistics.median(samples), max(samples), len(samples))

    def shown(self, unit: str = "", digits: int = 2) -> str:
        """``median (min–max)``, e.g. ``2,217 msg/s (2,150–2,301)``."""

        def number(value: float) -> str:
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.{digits}f}"

        unit = f" {unit}" if unit else ""
        if self.runs == 1:
            return f"{number(self.median)}{unit}"
        return f"{number(self.median)}{unit} ({number(self.min)}–{number(self.max)})"


def interleave(rounds: int, contenders: dict[str, Callable[[], float]]) -> dict[str, Spread]:
    """Run each contender once per round, in an order that alternates between rounds.

    Each callable measures one sample and returns it (seconds, messages per second…);
    round ``r`` runs them forwards when ``r`` is even and backwards when it is odd, so
    neither always runs first (on a warm or a cold cache, before or after a load burst).
    """
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for number in range(rounds):
        for name in names if number % 2 == 0 else reversed(names):
            samples[name].append(contenders[name]())
    return {name: Spread.of(values) for name, values in samples.items()}


def seconds_of(work: Callable[[], object]) -> float:
    """Wall-clock seconds ``work`` takes."""
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


@dataclass(frozen=True)
class Row:
    """One line of the README's table: the project's figure beside its peer's, and the ratio.

    ``higher_is_better`` is True for rates (messages per second) and False for times and
    sizes. ``ratio`` is always "project ÷ peer" on the medians, so that for a time 1.5
    reads "1.5× the peer's time" and for a rate 0.6 reads "0.6× the peer's rate".
    ``target`` is the issue's target as people read it (``≤ 1.5×``, ``≥ 0.6×``, ``≤ 150 MB``),
    ``met`` whether the median meets it (None where there is no target).
    """

    work: str
    unit: str
    project: Spread
    peer: Spread | None = None
    peer_label: str = ""
    higher_is_better: bool = False
    target: str = ""
    met: bool | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.peer is None or not self.peer.median:
            return None
        return self.project.median / self.peer.median

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["ratio"] = None if self.ratio is None else round(self.ratio, 3)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        fields = {k: v for k, v in data.items() if k != "ratio"}
        fields["project"] = Spread(**fields["project"])
        fields["peer"] = Spread(**fields["peer"]) if fields.get("peer") else None
        return cls(**fields)


def ratio_target(
    row_ratio: float | None, *, at_most: float | None = None, at_least: float | None = None
) -> bool | None:
    """Whether a ratio meets ``≤ at_most`` or ``≥ at_least``; None without a ratio."""
    if row_ratio is None:
        return None
    if at_most is not None and row_ratio > at_most:
        return False
    return not (at_least is not None and row_ratio < at_least)


@dataclass
class Results:
    """What one benchmark module measured: its rows, and any further figures (kept as they are)."""

    name: str
    rows: list[Row] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)

    def add(self, row: Row) -> Row:
        self.rows.append(row)
        print(f"  {row.work}: {row.project.shown(row.unit)}", end="")
        if row.peer is not None:
            print(
                f" | {row.peer_label or 'peer'}: {row.peer.shown(row.unit)} | ratio {row.ratio:.2f}", end=""
            )
        if row.target:
            print(
                f" | target {row.target}: {'met' if row.met else 'missed' if row.met is False else '—'}",
                end="",
            )
        print()
        return row

    def as_dict(self) -> dict[str, Any]:
        return {
            "machine": machine(),
            "date": date.today().isoformat(),
            "rows": [row.as_dict() for row in self.rows],
            **self.figures,
        }


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def save(results: Results) -> Path:
    """``bench/results/NAME.json``: the rows the README's table is made from."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{results.name}.json"
    path.write_text(json.dumps(results.as_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_all(folder: Path = RESULTS) -> dict[str, dict[str, Any]]:
    """Every results file in ``folder``, by benchmark name."""
    return {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.json"))}
