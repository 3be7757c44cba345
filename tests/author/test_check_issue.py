"""check_issue and `newsletter check` on real issues rendered by the real pipeline."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.checks import Finding, check_issue
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.cli import main
from newsletter.config import Settings
from newsletter.issue import load_issue
from newsletter.render import render_issue
from newsletter.wording import Wording

SAMPLE = "2019-12-20-tak-for-et-godt-2019"

BROKEN_ISSUE = """---
subject: {subject}
date: 2020-01-10
---

Første afsnit.

Se [den gamle side](http://example.org/gammel).
"""


def findings_for(path: Path, settings: Settings) -> list[Finding]:
    issue = load_issue(path, settings)
    return check_issue(issue, render_issue(issue, settings), settings)


@pytest.fixture
def broken(project_dir: Path) -> Path:
    path = project_dir / "issues" / "2020-01-10-broken.md"
    path.write_text(BROKEN_ISSUE.format(subject="Ny " + "lang " * 18), encoding="utf-8")
    return path


def test_sample_issue_passes_every_check(settings: Settings) -> None:
    findings = findings_for(settings.issues_dir / f"{SAMPLE}.md", settings)
    assert findings == []


def test_broken_issue_findings_name_file_and_markdown_line(broken: Path, settings: Settings) -> None:
    findings = {f.code: f for f in findings_for(broken, settings)}
    assert findings["subject-too-long"].line == 2
    assert findings["subject-too-long"].file == str(broken)
    assert findings["preheader-missing"].severity == "warning"
    assert findings["insecure-link"].line == 8
    assert set(findings) == {"subject-too-long", "preheader-missing", "insecure-link"}


def run_cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--config", str(settings.path), *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_command_passes_the_sample(settings: Settings) -> None:
    code, out, _err = run_cli(settings, "check", SAMPLE)
    assert code == 0
    assert "all checks pass" in out


def test_check_command_fails_on_errors_with_one_line(broken: Path, settings: Settings) -> None:
    code, out, err = run_cli(settings, "check", "2020-01-10-broken")
    assert code == 8
    assert f"{broken}:2: error: the subject is" in out
    assert f"{broken}:8: warning: link http://example.org/gammel uses http://" in out
    assert err.strip().splitlines() == [
        "Error: checks found errors in 2020-01-10-broken.md — fix them, then run 'newsletter check' again"
    ]


def test_warnings_alone_exit_zero(project_dir: Path, settings: Settings) -> None:
    path = project_dir / "issues" / "2020-01-11-warn.md"
    path.write_text(BROKEN_ISSUE.format(subject="Kort"), encoding="utf-8")
    code, out, _err = run_cli(settings, "check", str(path))
    assert code == 0
    assert "0 error(s), 2 warning(s)" in out


def test_check_command_json_for_ci(broken: Path, settings: Settings) -> None:
    code, out, err = run_cli(settings, "check", "--format", "json")
    assert code == 8
    assert err.startswith("Error: checks found errors in 2020-01-10-broken.md")
    document = json.loads(out)
    assert document["ok"] is False
    by_file = {Path(entry["file"]).name: entry for entry in document["issues"]}
    assert by_file[f"{SAMPLE}.md"]["findings"] == []
    bad = by_file["2020-01-10-broken.md"]
    assert bad["errors"] == 1 and bad["warnings"] == 2
    assert {"severity", "code", "message", "file", "line"} <= set(bad["findings"][0])


def test_check_command_unknown_issue_is_one_line(settings: Settings) -> None:
    code, out, err = run_cli(settings, "check", "no-such-issue")
    assert code == 3
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("Error: no-such-issue: no such issue")


def test_check_command_online_reports_dead_links(
    project_dir: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    probed: list[str] = []

    def fake_probe(_client: object, url: str) -> Wording | None:
        probed.append(url)
        return CHECK_TEXTS("answers-error", status=404) if "PLACEHOLDER" in url else None

    # The real HTTP path is tested against a local server in test_check_online; here the CLI wiring.
    monkeypatch.setattr("newsletter.checks.online._probe", fake_probe)
    code, out, _err = run_cli(settings, "check", SAMPLE, "--online")
    assert code == 8
    assert "PLACEHOLDER-kildedal answers HTTP 404" in out
    assert not any("/u/" in url or "/preferences/" in url for url in probed)


def test_online_check_of_an_issue_against_a_local_server(project_dir: Path, settings: Settings) -> None:
    from tests.author.test_check_online import Handler, QuietServer

    httpd = QuietServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        path = project_dir / "issues" / "2020-03-01-links.md"
        path.write_text(
            f"---\nsubject: Links\npreheader: To links\n---\n\nSe [siden]({base}/ok).\n\nOg [den gamle]({base}/gone).\n",
            encoding="utf-8",
        )
        issue = load_issue(path, settings)
        findings = check_issue(issue, render_issue(issue, settings), settings, online=True)
    finally:
        httpd.shutdown()
        httpd.server_close()
    unreachable = [f for f in findings if f.code == "link-unreachable"]
    assert [(f.line, f.message) for f in unreachable] == [
        (8, f"{base}/gone answers HTTP 404 — fix or remove the link")
    ]


def test_an_unreadable_issue_is_a_finding_and_the_others_are_still_checked(
    project_dir: Path, settings: Settings
) -> None:
    bad_link = project_dir / "issues" / "2020-02-01-bad-link.md"
    bad_link.write_text("---\nsubject: Nyt\n---\n\nSe [her](#).\n", encoding="utf-8")
    (project_dir / "templates" / "broken.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}\n{% block content %}\n{{ meta.venue }}\n{% endblock %}\n',
        encoding="utf-8",
    )
    bad_template = project_dir / "issues" / "2020-02-02-bad-template.md"
    bad_template.write_text("---\nsubject: Nyt\ntemplate: broken\n---\n\nHej.\n", encoding="utf-8")

    code, out, err = run_cli(settings, "check", "--format", "json")
    assert code == 8
    assert "2020-02-01-bad-link.md, 2020-02-02-bad-template.md" in err
    document = json.loads(out)  # one valid document despite the broken issues
    by_file = {Path(entry["file"]).name: entry for entry in document["issues"]}
    assert by_file[f"{SAMPLE}.md"]["findings"] == []  # checked after the broken ones failed
    # The body's problem, and in the same pass the checks of the inbox line that could still be read.
    preheader, link = by_file["2020-02-01-bad-link.md"]["findings"]
    assert preheader["code"] == "preheader-missing" and preheader["line"] == 2
    assert link["code"] == "issue-invalid" and link["line"] == 5
    assert link["file"] == str(bad_link) and link["message"].startswith("link '#' is not an absolute address")
    (template,) = by_file["2020-02-02-bad-template.md"]["findings"]
    assert template["code"] == "template-error" and template["line"] == 3
    assert template["file"] == "templates/broken.mjml.j2" and "venue" in template["message"]

    code, out, _err = run_cli(settings, "check")
    assert code == 8
    assert f"{bad_link}:5: error: link '#' is not an absolute address" in out
    assert f"{SAMPLE}.md: all checks pass" in out


def test_text_that_looks_like_template_code_passes_as_the_docs_promise(
    project_dir: Path, settings: Settings
) -> None:
    """docs/authoring.md: text that looks like template code is shown as written — so check must pass it."""
    path = project_dir / "issues" / "2020-01-12-skabelonkode.md"
    path.write_text(
        "---\nsubject: Skabeloner forklaret\npreheader: Sådan virker flettefelter\ndate: 2020-01-12\n---\n\n"
        "Skriv `{{ ikke_en_variabel }}` eller {{ ikke_en_variabel }} og {% if x %} i teksten.\n",
        encoding="utf-8",
    )
    issue = load_issue(path, settings)
    rendered = render_issue(issue, settings)
    assert "{{ ikke_en_variabel }}" in rendered.text  # shown as written
    assert findings_for(path, settings) == []


def test_a_template_that_leaves_jinja_in_the_email_is_still_an_error(
    project_dir: Path, settings: Settings
) -> None:
    (settings.templates_dir / "newsletter.mjml.j2").write_text(
        '{% extends "builtin/newsletter.mjml.j2" %}{% block footer_links %}{{ super() }} '
        "{{ '{{' }} glemt_felt }}{% endblock %}",
        encoding="utf-8",
    )
    path = project_dir / "issues" / "2020-01-13-skabelonfejl.md"
    path.write_text(
        "---\nsubject: Skabelonfejl\npreheader: En glemt variabel\ndate: 2020-01-13\n---\n\nTekst.\n",
        encoding="utf-8",
    )
    codes = [finding.code for finding in findings_for(path, settings)]
    assert "leftover-marker" in codes


def test_every_problem_of_a_file_in_one_pass_parse_errors_included(
    project_dir: Path, settings: Settings
) -> None:
    """A '#' link, a missing alt text, a missing image and a too-long subject: all in the first run."""
    path = project_dir / "issues" / "2020-01-14-fire-fejl.md"
    path.write_text(
        "---\nsubject: " + "Lang " * 20 + "\npreheader: Fire fejl\ndate: 2020-01-14\nlang: de\n---\n\n"
        "Se [toppen](#top).\n\n"
        "![](foto.jpg)\n\n"
        "![Rådhuset](mangler.jpg)\n",
        encoding="utf-8",
    )
    code, out, _err = run_cli(settings, "check", str(path))
    assert code == 8
    lines = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert [line.split(": error: ")[0].rsplit(":", 1)[1] for line in lines] == [
        "2",
        "5",
        "8",
        "10",
        "10",
        "12",
    ]
    assert "the subject is 99 characters" in lines[0] and "[subject-too-long]" in lines[0]
    assert "lang: 'de' is not supported" in lines[1]
    assert "link '#top' is not an absolute address" in lines[2]
    assert "image 'foto.jpg' has no alt text" in lines[3]
    assert "image file 'foto.jpg' not found" in lines[4]
    assert "image file 'mangler.jpg' not found" in lines[5]
    assert f"{path}: 6 error(s), 0 warning(s)" in out


def test_a_command_that_stops_at_the_first_problem_says_how_many_more(
    project_dir: Path, settings: Settings
) -> None:
    path = project_dir / "issues" / "2020-01-15-to-fejl.md"
    path.write_text(
        "---\nsubject: To fejl\ndate: 2020-01-15\n---\n\nSe [toppen](#top).\n\n![](foto.jpg)\n",
        encoding="utf-8",
    )
    code, _out, err = run_cli(settings, "build", path.stem)
    assert code == 3
    assert err.strip() == (
        f"Error: {path}:6: link '#top' is not an absolute address — write https://… or mailto:… "
        "(and 2 more problem(s) in this file: newsletter check lists them all)"
    )
