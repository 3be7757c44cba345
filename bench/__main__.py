"""Run every benchmark module in ``bench/`` and print their reports.

Each ``bench_*.py`` has a ``main() -> dict`` that measures one thing and
returns its figures; they are printed and saved in ``bench/results/`` with the
machine's core count, for the README's table.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import platform
import sys
from pathlib import Path

from bench.measure import Results, save

RESULTS = Path(__file__).parent / "results"


def main() -> int:
    only = set(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    print(f"machine: {machine['cores']} cores, Python {machine['python']} on {machine['machine']}")
    names = sorted(
        m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_")
    )
    for name in names:
        if only and name not in only and name.removeprefix("bench_") not in only:
            continue
        module = importlib.import_module(f"bench.{name}")
        print(f"\n== {name}")
        figures = module.main()
        if isinstance(figures, Results):
            save(figures)
        else:
            (RESULTS / f"{name}.json").write_text(json.dumps({"machine": machine, **figures}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
