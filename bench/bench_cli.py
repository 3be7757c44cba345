"""How soon the ``newsletter`` command answers, run as a process as a user runs it.

Each command is started as the installed console script (``.venv/bin/newsletter``)
in the project's folder, ``ROUNDS`` times, interleaved with its peer: the bare
interpreter start-up, ``python -c pass``, the floor no command can go below.
The work:

- ``newsletter --help``: the command list (target ≤ 0.35 s, on the median);
- ``newsletter build 2019-12-20-tak-for-et-godt-2019`` (the real sample issue, ~37 KB of
  HTML), written to a throwaway ``--out`` folder (target ≤ 0.8 s);
- ``newsletter check`` of the same issue, without SpamAssassin (``NEWSLETTER_SPAMASSASSIN=off``,
  as in the tests: scoring is a separate program that takes seconds of its own);
- ``newsletter status`` of the same issue on a throwaway SQLite file, migrated before the
  first round: each round opens it, reads the ledger and answers that the issue has not
  been sent (exit 4).

Also, for ``--help`` and ``build``: the ten packages whose imports take longest
(``python -X importtime``, self time summed per top-level package, the median
of three runs), in the results as ``import_top10``.

Run with ``.venv/bin/python -m bench cli``.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.measure import Results, Row, Spread, interleave, seconds_of
from newsletter.checks.spam import SPAMASSASSIN_ENV

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = "2019-12-20-tak-for-et-godt-2019"
ROUNDS = 15
IMPORT_RUNS = 3
PEER_LABEL = "interpreter start-up (python -c pass)"
NEWSLETTER = Path(sys.executable).parent / "newsletter"
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def _process(command: list[str], env: dict[str, str], *, must_succeed: bool = True) -> Callable[[], float]:
    """Seconds from starting ``command`` in the project's folder to its exit."""

    def run() -> float:
        return seconds_of(
            lambda: subprocess.run(
                command,
                cwd=ROOT,
                env=env,
                check=must_succeed,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )

    return run


def import_top(args: list[str], env: dict[str, str], count: int = 10) -> list[dict[str, object]]:
    """The ``count`` top-level packages whose imports take longest when ``newsletter ARGS`` runs."""
    runs: dict[str, list[float]] = defaultdict(list)
    program = "import sys; from newsletter.cli import main; sys.argv = ['newsletter', *sys.argv[1:]]; main()"
    for _ in range(IMPORT_RUNS):
        report = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", program, *args],
            cwd=ROOT, env=env, capture_output=True, text=True, check=False,
        ).stderr  # fmt: skip
        per_package: dict[str, float] = defaultdict(float)
        for match in _IMPORT_LINE.finditer(report):
            per_package[match.group(4).partition(".")[0]] += int(match.group(1)) / 1000
        for package, milliseconds in per_package.items():
            runs[package].append(milliseconds)
    medians = {
        package: statistics.median(values + [0.0] * (IMPORT_RUNS - len(values)))
        for package, values in runs.items()
    }
    top = sorted(medians.items(), key=lambda item: item[1], reverse=True)[:count]
    return [{"package": package, "ms": round(milliseconds, 1)} for package, milliseconds in top]


def main() -> Results:
    results = Results("cli")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as scratch:
        env = {
            **os.environ,
            SPAMASSASSIN_ENV: "off",
            "NEWSLETTER_DATABASE_URL": f"sqlite:///{Path(scratch) / 'newsletter.db'}",
            "NEWSLETTER_SECRET_KEY": os.environ.get(
                "NEWSLETTER_SECRET_KEY", "bench-only-signing-key-0123456789"
            ),
        }
        env.pop("NEWSLETTER_CONFIG", None)
        out = str(Path(scratch) / "build")
        build = ["build", SAMPLE, "--out", out]
        # The first status migrates the database; every one reads the ledger and answers (exit 4)
        # that the issue has not been sent: the rounds time that, not a crash.
        status = [str(NEWSLETTER), "status", SAMPLE]
        first = subprocess.run(status, cwd=ROOT, env=env, check=False, capture_output=True, text=True)
        if first.returncode != 4 or "has not been sent yet" not in first.stderr:
            raise RuntimeError(f"newsletter status answered {first.returncode}: {first.stderr.strip()}")
        contenders = {
            "peer": _process([sys.executable, "-c", "pass"], env),
            "help": _process([str(NEWSLETTER), "--help"], env),
            "build": _process([str(NEWSLETTER), *build], env),
            "check": _process([str(NEWSLETTER), "check", SAMPLE], env),
            "status": _process(status, env, must_succeed=False),
        }
        contenders["build"]()  # the first build creates the --out folder; every round replaces it
        spreads = interleave(ROUNDS, contenders)
        results.figures["import_top10"] = {
            "newsletter --help": import_top(["--help"], env),
            "newsletter build (sample issue)": import_top(build, env),
        }

    peer = spreads["peer"]
    for key, work, target in (
        ("help", "newsletter --help", 0.35),
        ("build", "newsletter build (sample issue)", 0.8),
        ("check", "newsletter check (sample issue, no SpamAssassin)", None),
        ("status", "newsletter status (sample issue, SQLite)", None),
    ):
        spread: Spread = spreads[key]
        results.add(
            Row(
                work=work,
                unit="s",
                project=spread,
                peer=peer,
                peer_label=PEER_LABEL,
                target=f"≤ {target} s" if target is not None else "",
                met=None if target is None else spread.median <= target,
            )
        )
    for command, top in results.figures["import_top10"].items():
        print(f"  slowest imports, {command}: " + ", ".join(f"{t['package']} {t['ms']} ms" for t in top))
    return results
