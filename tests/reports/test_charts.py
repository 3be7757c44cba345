"""``--out DIR``: a self-contained HTML report with the three charts, and the charts as SVG files."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from tests.reports.conftest import ISSUE, ScriptedSend

SVG = "{http://www.w3.org/2000/svg}"


def _drawn(svg_text: str) -> list[str]:
    """The ids of the data a chart draws (its bars and lines carry them; axes and labels do not)."""
    root = ET.fromstring(svg_text)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    return sorted(
        element.get("id", "")
        for element in root.iter(f"{SVG}g")
        if element.get("id", "").startswith(("send-", "events-", "domain-"))
    )


def test_out_writes_a_self_contained_report_with_three_non_empty_charts(
    scripted_send: Callable[..., ScriptedSend], tmp_path: Path
) -> None:
    scripted = scripted_send()
    out = tmp_path / "rapport"
    result = scripted.cli("report", ISSUE, "--out", str(out))
    assert result.exit_code == 0, result.output
    assert f"Report written to {out / 'report.html'}" in result.output
    assert sorted(path.name for path in out.iterdir()) == [
        "domains.svg",
        "events.svg",
        "report.html",
        "send.svg",
    ]

    def drawn(name: str) -> list[str]:
        return _drawn((out / f"{name}.svg").read_text(encoding="utf-8"))

    # Each chart draws its data: the send's two minutes, a line per kind of event that happened,
    # and for each of the three domains its delivered / bounced / complained bars.
    assert drawn("send") == ["send-minute-0", "send-minute-1"]
    assert drawn("events") == [
        f"events-{kind}" for kind in ("bounced", "complained", "deferred", "delivered", "unsubscribed")
    ]
    assert len(drawn("domains")) == 3 * 3 and "domain-bounced-balk.dk" in drawn("domains")
    domains = (out / "domains.svg").read_text(encoding="utf-8")
    assert all(domain in domains for domain in ("gmail.com", "outlook.dk", "balk.dk"))
    assert "Leveret" in domains and "Udfald pr. domæne" in domains  # [defaults] language = "da"

    page = (out / "report.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and '<html lang="da">' in page
    assert page.count("<svg ") == 3 and page.count('role="img" aria-label=') == 3
    # Nothing to fetch: no script, no stylesheet or image from elsewhere, so it opens offline.
    for outside in ("<script", "<link", "src=", 'href="http', "url(http", "@import"):
        assert outside not in page, outside
    assert "g4@gmail.com" in page and "550 5.1.1 user unknown" in page and "permanent" in page


def test_json_to_stdout_stays_parseable_when_out_writes_the_report_too(
    scripted_send: Callable[..., ScriptedSend], tmp_path: Path
) -> None:
    scripted = scripted_send()
    result = scripted.cli("report", ISSUE, "--format", "json", "--out", str(tmp_path / "r"))
    assert result.exit_code == 0
    assert result.stdout.lstrip().startswith("{") and "Report written to" in result.stderr


def test_help_and_the_report_without_out_load_no_matplotlib() -> None:
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from newsletter.cli import main\n"
        "CliRunner().invoke(main, ['report', '--help'])\n"
        "import newsletter.web.admin\n"
        "print('matplotlib' in sys.modules)\n"
    )
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == "False", shown.stderr
