"""The self-contained HTML report ``newsletter report ISSUE --out DIR`` writes.

``DIR/report.html`` holds everything — the numbers, the lists and the three charts as inline
SVG, its style in the page — so it can be mailed or archived as one file and opened offline;
the charts are also written beside it as ``send.svg``, ``events.svg`` and ``domains.svg`` for
a slide or a document. Words follow the project's language ([defaults] language).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from markupsafe import Markup

from newsletter.reports.charts import all_charts
from newsletter.reports.figures import COUNT_KEYS, IssueReport
from newsletter.reports.words import report_words

REPORT_FILE = "report.html"
_ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
)


def _labelled(svg: str, label: str) -> Markup:
    """Our own SVG (drawn from numbers, no outside text but escaped labels) named for screen readers."""
    return Markup(svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(label)}" ', 1))


def report_body(report: IssueReport, lang: str, charts: dict[str, Markup]) -> Markup:
    """The report's content (facts, tables, charts) for a page of its own or the workspace."""
    template = _ENVIRONMENT.get_template("report_body.html.j2")
    return Markup(template.render(_context(report, lang, charts)))


def report_html(report: IssueReport, lang: str, charts: dict[str, str]) -> str:
    """The report as one HTML document, ``charts`` (name → SVG) placed inline."""
    words = report_words(lang)
    inline = {name: _labelled(svg, words[f"{name}_chart_alt"]) for name, svg in charts.items()}
    return _ENVIRONMENT.get_template("report.html.j2").render(_context(report, lang, inline))


def _context(report: IssueReport, lang: str, charts: dict[str, Markup]) -> dict[str, object]:
    return {
        "report": report,
        "lang": lang if lang in ("da", "en") else "da",
        "words": report_words(lang),
        "count_keys": COUNT_KEYS,
        "rates": report.rates,
        "charts": charts,
    }


def write_report_folder(report: IssueReport, folder: Path, lang: str) -> Path:
    """Write report.html and the charts into ``folder`` (made if missing); returns report.html's path.

    The charts are drawn before anything is written, and each file is written whole under a
    temporary name and then renamed: a failure leaves no half-written report behind.
    """
    charts = all_charts(report, lang)
    page = report_html(report, lang, charts)
    folder.mkdir(parents=True, exist_ok=True)
    files = {f"{name}.svg": svg for name, svg in charts.items()}
    files[REPORT_FILE] = page
    for name, content in files.items():
        partial = folder / f".{name}.partial"
        partial.write_text(content, encoding="utf-8")
        partial.replace(folder / name)
    return folder / REPORT_FILE
