"""Checking an issue *file*: read it, render it, check it — or say in one finding why it cannot be.

``newsletter check`` and the workspace's Issues page ask the same function,
so a file that does not even load or render is one ``error`` finding naming
its file and line in both, and every other issue gets the full checks.

:class:`CheckedFiles` keeps those results for a long-running process (the
workspace's Issues page checks every issue on every load) and checks a file
again only when something its check reads has changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from newsletter.assets import issue_folder
from newsletter.checks.core import Finding, Severity, SourceMap, check_front_matter, has_errors
from newsletter.checks.issue import check_issue
from newsletter.checks.spam import SPAM_THRESHOLD, SpamAssassinFailed, spam_score
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.config import Settings
from newsletter.errors import IssueError, RenderError
from newsletter.issue import Issue, load_issue
from newsletter.render import Rendered, render_issue
from newsletter.sample_message import sample_message
from newsletter.template_sources import template_folders


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
        score = spam_score(sample_message(rendered, settings), program)
    except SpamAssassinFailed as exc:
        return [Finding.worded("warning", CHECK_TEXTS("spam-score-unknown", problem=str(exc)), file)]
    if score.points <= 0:
        return []
    severity: Severity = "error" if score.points >= SPAM_THRESHOLD else "warning"
    return [Finding.worded(severity, CHECK_TEXTS("spam-score", score=score.describe()), file)]


# What a file's check may depend on, as the file system describes it: a change to any part means
# "check again". Modification time and size are what an edit changes; the inode changes with every
# atomic save (write a new file, rename it over the old), and the status-change time cannot be set
# back by a tool that restores an old modification time. None: the file is not there.
FileStamp = tuple[int, int, int, int, int, int] | None


def file_stamp(path: Path) -> FileStamp:
    """``path`` as :data:`FileStamp` (the link itself when it is one: a check refuses links)."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_mode, info.st_nlink, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)


def folder_stamp(folder: Path, *, recursive: bool = False) -> tuple[tuple[str, FileStamp], ...]:
    """Every entry of ``folder`` (and below, when ``recursive``) with its stamp; empty when there is none."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return ()
    found: list[tuple[str, FileStamp]] = []
    for entry in entries:
        path = Path(entry.path)
        found.append((entry.name, file_stamp(path)))
        if recursive and entry.is_dir(follow_symlinks=False):
            found += [(f"{entry.name}/{name}", stamp) for name, stamp in folder_stamp(path, recursive=True)]
    return tuple(found)


class CheckedFiles:
    """The check of each issue file, kept while nothing the check reads has changed.

    A result is reused while the issue file, its image folder ``issues/<slug>/``
    (each image, and links in it) and the email templates (the project's and
    the built-in ones) look exactly as they did when it was checked; a change
    to any of them, a new file and a deleted one are seen at the next call.
    The settings are this object's own and never change (a web process reads
    ``newsletter.toml`` once), so they are no part of the key.

    Safe to share between threads: the table is guarded by a lock, and the
    checks themselves run outside it. Two threads that find the same file
    unchecked may both check it; both store the same result.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._results: dict[Path, tuple[object, CheckedFile]] = {}

    def templates_stamp(self) -> object:
        return tuple(
            folder_stamp(folder, recursive=True) for folder in template_folders(self.settings.templates_dir)
        )

    def check(self, path: Path, templates: object | None = None) -> CheckedFile:
        """The check of ``path``: kept, or made now. ``templates`` (from :meth:`templates_stamp`)
        lets a caller checking many files look at the templates once."""
        if templates is None:
            templates = self.templates_stamp()
        # Stamped before the check reads anything: a change made while it runs leaves a stamp
        # that no longer matches, so the next call checks again rather than keeping an old result.
        key = (file_stamp(path), folder_stamp(issue_folder(path)), templates)
        with self._lock:
            kept = self._results.get(path)
        if kept is not None and kept[0] == key:
            return kept[1]
        checked = check_issue_file(path, self.settings)
        with self._lock:
            self._results[path] = (key, checked)
        return checked

    def check_all(self, paths: Sequence[Path]) -> list[CheckedFile]:
        """The checks of ``paths``, in their order; results for files no longer asked about are dropped."""
        templates = self.templates_stamp()
        checked = [self.check(path, templates) for path in paths]
        wanted = set(paths)
        with self._lock:
            for gone in [path for path in self._results if path not in wanted]:
                del self._results[gone]
        return checked
