"""``python -m bench.readme_table``: results files in, the README's table between its markers out."""

from __future__ import annotations

import json
from pathlib import Path

from bench.measure import Row, Spread
from bench.readme_table import END, START, main

BEFORE = "# Project\n\n## Benchmarks\n\nProse above | with a pipe.\n\n"
AFTER = "\n\nProse below, kept as written.\n\n## Development\n"
OLD_TABLE = "| what | measured |\n|---|---|\n| hand-written | 15 KB issue |"


def write_results(folder: Path) -> None:
    folder.mkdir()
    render = {
        "machine": {"cores": 2, "python": "3.11.7", "machine": "x86_64", "load_average": [2.5, 1.9, 1.0]},
        "date": "2026-12-02",
        "rows": [
            Row(
                work="render of the sample issue",
                unit="ms",
                project=Spread(5.5, 6.75, 114.2, 200),
                peer=Spread(7.25, 8.5, 24.0, 200),
                peer_label="cache off",
                target="< 25 ms",
                met=True,
                note="41,512 bytes",
            ).as_dict(),
            Row(
                work="merge | per recipient", unit="µs", project=Spread(60.0, 61.0, 62.0, 5), met=False
            ).as_dict(),
        ],
        "stage_share": {"premailer": 51.1},
    }
    web = {
        "machine": {"cores": 2, "python": "3.11.7", "machine": "x86_64", "load_average": [4.25, 3.0, 2.0]},
        "date": "2026-12-01",
        "rows": [
            Row(
                work="one-click unsubscribes",
                unit="/s",
                project=Spread(800.0, 900.0, 1000.0, 5),
                peer=Spread(3000.0, 3600.0, 4000.0, 5),
                peer_label="bare",
                higher_is_better=True,
                target="≥ 500/s",
                met=True,
            ).as_dict()
        ],
    }
    old_style = {"machine": {"cores": 2}, "render_ms": 6.3}  # a benchmark not converted yet: no rows
    for name, data in (("render", render), ("web", web), ("bench_store", old_style)):
        (folder / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def test_results_become_the_table_between_the_markers_and_nothing_else_changes(tmp_path: Path) -> None:
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    readme.write_text(f"{BEFORE}{START}\n{OLD_TABLE}\n{END}{AFTER}", encoding="utf-8")

    assert main(readme, tmp_path / "results") == 0

    expected_table = "\n".join(
        [
            "Measured 2026-12-01 (web); 2026-12-02 (render), on 2 cores, Python 3.11.7, "
            "one-minute load average 2.5–4.25 at the end of each benchmark.",
            "",
            "| work | project (median, min–max) | peer (median, min–max) | ratio | target | met |",
            "|---|---|---|---|---|---|",
            "| render of the sample issue — 41,512 bytes | 6.75 ms (5.50–114) | cache off: 8.50 ms (7.25–24.00) "
            "| 0.79× | < 25 ms | yes |",
            "| merge \\| per recipient | 61.00 µs (60.00–62.00) |  |  |  | **no** |",
            "| one-click unsubscribes | 900 /s (800–1,000) | bare: 3,600 /s (3,000–4,000) | 0.25× | ≥ 500/s | yes |",
        ]
    )
    assert readme.read_text(encoding="utf-8") == f"{BEFORE}{START}\n{expected_table}\n{END}{AFTER}"

    # Run again on its own output: the same README, not a second table.
    assert main(readme, tmp_path / "results") == 0
    assert readme.read_text(encoding="utf-8") == f"{BEFORE}{START}\n{expected_table}\n{END}{AFTER}"


def test_a_readme_without_both_markers_is_left_alone(tmp_path: Path) -> None:
    write_results(tmp_path / "results")
    readme = tmp_path / "README.md"
    for text in (f"{BEFORE}{OLD_TABLE}{AFTER}", f"{BEFORE}{START}\n{OLD_TABLE}{AFTER}", f"{END}\n{START}\n"):
        readme.write_text(text, encoding="utf-8")
        assert main(readme, tmp_path / "results") == 1
        assert readme.read_text(encoding="utf-8") == text


def test_no_results_with_rows_says_how_to_make_them(tmp_path: Path) -> None:
    (tmp_path / "results").mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{OLD_TABLE}\n{END}\n", encoding="utf-8")
    assert main(readme, tmp_path / "results") == 0
    assert readme.read_text(encoding="utf-8") == (
        f"{START}\nNo benchmark results with rows yet: run `make bench`.\n{END}\n"
    )
