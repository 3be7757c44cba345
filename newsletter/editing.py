"""Saving an issue from the workspace's editor: versions, whole-file writes, drafts and conflicts.

The issue file stays the one source of truth, so a save from the browser
must never leave it half-written, broken or silently overwritten:

- **Versions.** An issue's version is the SHA-256 of the file's bytes. The
  editor's form carries the version its text started from (and the version of
  the draft it continued, if any). A save or an autosave whose versions are
  not the current ones is refused as a :data:`CONFLICT`, with the other text,
  so the person sees what changed; nothing is written.
- **Whole files.** The file is written to a temporary name beside it and
  moved into place with ``os.replace``: a reader (``newsletter send``, the
  archive, git) sees the old file or the new one, never a mix.
- **Drafts.** Text that does not load or render as an issue is never written
  over the last good file: it is kept as the issue's draft,
  ``issues/.drafts/<slug>.json`` (the text, the version it was based on, who
  and when). Autosaves go there too. ``build``, ``check``, ``send`` and the
  archive read only ``issues/*.md``, so a draft is never sent or published;
  the folder ignores itself in git. A successful save removes the draft.
- **One writer at a time.** Each check-and-write holds an ``flock`` on the
  issues folder, so two ``serve`` processes (or threads) cannot both pass the
  version check and both write.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import stat
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from newsletter.assets import is_plain_file
from newsletter.checks.core import Finding
from newsletter.checks.files import unrenderable
from newsletter.config import Settings
from newsletter.errors import IssueError, NewsletterError, RenderError
from newsletter.issue import is_issue_stem, parse_issue
from newsletter.render import render_issue

DRAFTS_FOLDER = ".drafts"
# Far beyond any issue: Gmail clips an email whose HTML passes 102 KB.
MAX_TEXT_CHARS = 400_000
SAVED: Literal["saved"] = "saved"
DRAFT: Literal["draft"] = "draft"
CONFLICT: Literal["conflict"] = "conflict"
UNCHANGED: Literal["unchanged"] = "unchanged"
Outcome = Literal["saved", "draft", "conflict", "unchanged"]


class EditError(NewsletterError):
    """The issue cannot be opened or saved at all (missing, a link, not UTF-8, too long); ``reason`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Draft:
    """Unsaved text of an issue: what it was based on, who kept it and when."""

    text: str
    base_version: str
    saved_by: str
    saved_at: datetime
    version: str  # of the draft file itself


@dataclass(frozen=True)
class Opened:
    """An issue as the editor opens it: the file, and the draft being continued if there is one."""

    path: Path
    file_text: str
    version: str
    draft: Draft | None

    @property
    def text(self) -> str:
        return self.draft.text if self.draft is not None else self.file_text

    @property
    def base_version(self) -> str:
        """The file version the editor's text started from (a draft's own base)."""
        return self.draft.base_version if self.draft is not None else self.version

    @property
    def draft_version(self) -> str:
        return self.draft.version if self.draft is not None else ""


@dataclass(frozen=True)
class Saved:
    """What a save or autosave did, and the versions the editor's form carries from now on."""

    outcome: Outcome
    version: str
    draft_version: str
    problem: Finding | None = None  # why the text was kept as a draft
    theirs: str = ""  # a conflict: the other text (the file's, or the other draft's)
    theirs_kind: Literal["file", "draft", ""] = ""
    theirs_by: str = ""  # a conflicting draft's author
    theirs_at: datetime | None = None


def version_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def normalised(text: str) -> str:
    """The text as it is written: ``\\n`` line ends (browsers send ``\\r\\n``), ending in one."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text if text.endswith("\n") else text + "\n"


def issue_path(settings: Settings, slug: str) -> Path:
    """``issues/<slug>.md`` when it is an issue's plain file; EditError ``missing`` otherwise."""
    path = settings.issues_dir / f"{slug}.md"
    if not is_issue_stem(slug) or not is_plain_file(path):
        raise EditError(
            "missing", f"{path}: no such issue file (or it is a link) — pick an issue from the list"
        )
    return path


def drafts_folder(settings: Settings) -> Path:
    return settings.issues_dir / DRAFTS_FOLDER


def draft_path(settings: Settings, slug: str) -> Path:
    return drafts_folder(settings) / f"{slug}.json"


def render_problem(path: Path, text: str, settings: Settings) -> Finding | None:
    """Why ``text`` would not load or render as the issue ``path`` (its first problem; the editor's
    findings list them all); None when it does."""
    try:
        render_issue(parse_issue(path, text, settings), settings)
    except (IssueError, RenderError) as exc:
        return next(finding for finding in unrenderable(exc) if finding.severity == "error")
    return None


def open_issue(settings: Settings, slug: str) -> Opened:
    path = issue_path(settings, slug)
    data = _read_bytes(path)
    return Opened(path, _decoded(path, data), version_of(data), read_draft(settings, slug))


def read_draft(settings: Settings, slug: str) -> Draft | None:
    path = draft_path(settings, slug)
    if not is_plain_file(path):
        return None
    data = path.read_bytes()
    try:
        fields = json.loads(data)
        return Draft(
            text=str(fields["text"]),
            base_version=str(fields["base_version"]),
            saved_by=str(fields["saved_by"]),
            saved_at=datetime.fromisoformat(fields["saved_at"]),
            version=version_of(data),
        )
    except (ValueError, KeyError, TypeError):  # not a draft this module wrote: not worth keeping
        return None


def save(settings: Settings, slug: str, text: str, *, version: str, draft_version: str, by: str) -> Saved:
    """Write ``text`` as the issue file — or, when it does not render, as the issue's draft.

    Refused as a conflict (nothing written) when the file or the draft changed
    since the editor's versions ``version`` and ``draft_version``.
    """
    text = _checked_text(text)
    path = issue_path(settings, slug)
    with _one_writer(settings):
        current, draft, conflict = _current(settings, slug, path, version, draft_version)
        if conflict is not None:
            return conflict
        problem = render_problem(path, text, settings)
        if problem is not None:
            kept = _write_draft(settings, slug, text, base_version=current, by=by)
            return Saved(DRAFT, current, kept, problem=problem)
        if draft is None and text == _decoded(path, _read_bytes(path)):
            return Saved(UNCHANGED, current, "")
        data = text.encode("utf-8")
        write_atomically(path, data)
        if draft is not None:
            draft_path(settings, slug).unlink(missing_ok=True)
        return Saved(SAVED, version_of(data), "")


def autosave(settings: Settings, slug: str, text: str, *, version: str, draft_version: str, by: str) -> Saved:
    """Keep ``text`` as the issue's draft (the file is never touched); the same conflict rule as :func:`save`."""
    text = _checked_text(text)
    path = issue_path(settings, slug)
    with _one_writer(settings):
        current, draft, conflict = _current(settings, slug, path, version, draft_version)
        if conflict is not None:
            return conflict
        if draft is None and text == _decoded(path, _read_bytes(path)):
            return Saved(UNCHANGED, current, "")
        kept = _write_draft(settings, slug, text, base_version=current, by=by)
        return Saved(DRAFT, current, kept)


def discard_draft(settings: Settings, slug: str, draft_version: str) -> bool:
    """Remove the issue's draft if it is still the one the editor showed; False when it was not."""
    issue_path(settings, slug)
    with _one_writer(settings):
        draft = read_draft(settings, slug)
        if draft is None or draft.version != draft_version:
            return False
        draft_path(settings, slug).unlink(missing_ok=True)
        return True


def forget_stale_draft(settings: Settings, slug: str) -> None:
    """Remove a draft left by an earlier issue of the same slug (its file was deleted, a new one created)."""
    with _one_writer(settings):
        draft_path(settings, slug).unlink(missing_ok=True)


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` in one step, keeping its permissions; a crash leaves the old file."""
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        mode = stat.S_IMODE(os.lstat(path).st_mode)
    except FileNotFoundError:
        mode = 0o644
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, mode)  # os.open's mode is filtered by the umask; keep the file's own
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)  # the rename itself survives a power cut
    finally:
        os.close(folder)


# --- inside ------------------------------------------------------------------------------------


def _checked_text(text: str) -> str:
    if len(text) > MAX_TEXT_CHARS:
        raise EditError(
            "too_long", f"the text has {len(text)} characters, more than {MAX_TEXT_CHARS} — split the issue"
        )
    return normalised(text)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise EditError("missing", f"{path}: no such issue file — pick an issue from the list") from None


def _decoded(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        raise EditError(
            "not_utf8",
            f"{path}: the file is not UTF-8 text — save it as UTF-8 in an editor, then open it here",
        ) from None


def _current(
    settings: Settings, slug: str, path: Path, version: str, draft_version: str
) -> tuple[str, Draft | None, Saved | None]:
    """The file's version and the draft now, and the conflict when they are not what the editor had."""
    data = _read_bytes(path)
    current = version_of(data)
    draft = read_draft(settings, slug)
    now_draft = draft.version if draft is not None else ""
    if current != version:
        conflict = Saved(CONFLICT, current, now_draft, theirs=_decoded(path, data), theirs_kind="file")
        return current, draft, conflict
    if now_draft != draft_version:
        if draft is None:  # the draft the editor continued was saved as the file or thrown away meanwhile
            theirs = Saved(CONFLICT, current, "", theirs=_decoded(path, data), theirs_kind="file")
        else:
            theirs = Saved(
                CONFLICT,
                current,
                now_draft,
                theirs=draft.text,
                theirs_kind="draft",
                theirs_by=draft.saved_by,
                theirs_at=draft.saved_at,
            )
        return current, draft, theirs
    return current, draft, None


def _write_draft(settings: Settings, slug: str, text: str, *, base_version: str, by: str) -> str:
    folder = drafts_folder(settings)
    if folder.is_symlink():
        raise EditError("drafts_link", f"{folder} is a symbolic link — make it a real folder")
    folder.mkdir(exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():  # drafts are work in progress on this server: never committed with the issues
        ignore.write_text("# Unsaved workspace drafts (newsletter.editing)\n*\n", encoding="utf-8")
    data = json.dumps(
        {
            "text": text,
            "base_version": base_version,
            "saved_by": by,
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        ensure_ascii=False,
        indent=1,
    ).encode("utf-8")
    write_atomically(draft_path(settings, slug), data)
    return version_of(data)


@contextlib.contextmanager
def _one_writer(settings: Settings) -> Iterator[None]:
    """An exclusive ``flock`` on the issues folder for one check-and-write (every process and thread)."""
    folder = os.open(settings.issues_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # closing releases the lock
