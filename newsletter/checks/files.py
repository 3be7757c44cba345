"""Checking an issue *file*: read it, render it, check it — or say in one finding why it cannot be.

``newsletter check`` and the workspace's Issues page ask the same function,
so a file that does not even load or render is one ``error`` finding naming
its file and line in both, and every other issue gets the full checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from newsletter.checks.core import Finding, has_errors
from newsletter.checks.issue import check_issue
from newsletter.config import Settings
from newsletter.errors import IssueError, RenderError
from newsletter.issue import Issue, load_issue
from newsletter.render import render_issue


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


def unrenderable(exc: IssueError | RenderError) -> Finding:
    """The finding for an issue that cannot be read or rendered: the error's own file and line."""
    if isinstance(exc, IssueError):
        code, where = "issue-invalid", exc.path
    else:
        code, where = "template-error", exc.where
    prefix = f"{where}:{exc.line}: " if exc.line else f"{where}: "
    return Finding("error", code, exc.message.removeprefix(prefix), where, exc.line)


def check_issue_file(path: Path, settings: Settings, *, online: bool = False) -> CheckedFile:
    """Load, render and check the issue at ``path``; never raises for a broken issue or template."""
    try:
        issue = load_issue(path, settings)
        rendered = render_issue(issue, settings)
    except (IssueError, RenderError) as exc:
        return CheckedFile(path, None, [unrenderable(exc)])
    return CheckedFile(path, issue, check_issue(issue, rendered, settings, online=online))
