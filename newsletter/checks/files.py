"""Checking an issue *file*: read it, render it, check it — or say in one finding why it cannot be.

``newsletter check`` and the workspace's Issues page ask the same function,
so a file that does not even load or render is one ``error`` finding naming
its file and line in both, and every other issue gets the full checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.checks.core import Finding, Severity, SourceMap, check_front_matter, has_errors
from newsletter.checks.issue import check_issue
from newsletter.checks.spam import SPAM_THRESHOLD, SpamAssassinFailed, spam_score
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.config import Settings
from newsletter.errors import IssueError, RenderError
from newsletter.issue import Issue, load_issue
from newsletter.render import Rendered, render_issue
from newsletter.sample_message import sample_message


@dataclass(frozen=True)
class CheckedFile:
    """One issue file's check: ``issue`` is None when the file could not be read or rendered."""

    path: Path
    issue: Issue | None
    findings: list[Finding]

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def failed(self) -> bool:
        return has_errors(self.findings)


def unrenderable(exc: IssueError | RenderError) -> list[Finding]:
    """The findings for an issue that cannot be read or rendered: every problem found in the file,
    each with its own line, and the checks of the subject and preheader when those could be read."""
    if isinstance(exc, RenderError):
        prefix = f"{exc.where}:{exc.line}: " if exc.line else f"{exc.where}: "
        problem = CHECK_TEXTS("template-error", problem=exc.message.removeprefix(prefix))
        return [Finding.worded("error", problem, exc.where, exc.line)]
    findings = [
        Finding("error", "issue-invalid", problem.detail, problem.path, problem.line, problem.wording)
        for problem in exc.every
    ]
    fields = exc.front_matter
    if fields.get("subject"):
        source = SourceMap(exc.path, fields.get("source", ""))
        findings += check_front_matter(fields["subject"], fields.get("preheader", ""), source)
    return sorted(findings, key=lambda finding: finding.line or 0)


def check_issue_file(
    path: Path, settings: Settings, *, online: bool = False, spamassassin: str | None = None
) -> CheckedFile:
    """Load, render and check the issue at ``path``; never raises for a broken issue or template.

    With ``spamassassin`` (the program, see :mod:`newsletter.checks.spam`) the sample
    recipient's whole message is also scored for spam.
    """
    try:
        issue = load_issue(path, settings)
        rendered = render_issue(issue, settings)
    except (IssueError, RenderError) as exc:
        return CheckedFile(path, None, unrenderable(exc))
    findings = check_issue(issue, rendered, settings, online=online)
    # An issue with errors is not sent as it is: its score would be of a message nobody gets.
    if spamassassin is not None and not has_errors(findings):
        findings += _spam_findings(rendered, settings, spamassassin, str(path))
    return CheckedFile(path, issue, findings)


def _spam_findings(rendered: Rendered, settings: Settings, program: str, file: str) -> list[Finding]:
    try:
        score = spam_score(sample_message(rendered, settings).as_bytes(), program)
    except SpamAssassinFailed as exc:
        return [Finding.worded("warning", CHECK_TEXTS("spam-score-unknown", problem=str(exc)), file)]
    if score.points <= 0:
        return []
    severity: Severity = "error" if score.points >= SPAM_THRESHOLD else "warning"
    return [Finding.worded(severity, CHECK_TEXTS("spam-score", score=score.describe()), file)]
