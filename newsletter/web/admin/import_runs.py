"""Subscriber imports started from the workspace: the uploaded file kept aside, and the import's thread.

An uploaded file is copied into a private folder of the web process (made
by :func:`tempfile.mkdtemp`: readable by the server's user only, never
under ``issues/`` or anything the service serves) under a random id, and
bound to the session that uploaded it: another session — even the same
user's after signing in again — neither sees nor starts it. Reading it for
the preview writes nothing to the subscriber store; only a confirmed import
does.

The import is :func:`newsletter.store.imports.import_csv`, the one
``newsletter subscribers import`` runs, in a thread of its own. What it has
done so far (its summary after each commit) and its final report
are kept here with the upload, so reloading the page, or opening it in
another tab, shows where it is. The copy of the file is deleted as soon as
the import ends, when the upload is discarded, or :data:`KEEP_SECONDS` after
it was left unconfirmed; the report is forgotten :data:`KEEP_SECONDS` after
the import ended (the audit log keeps its counts); the folder goes when the
server stops.

If the web process dies mid-import, the rows committed so far are saved
and the rest is not; the page then no longer knows the import (it lived in
the process), and importing the same file again finishes it — saved rows
count as unchanged. A normal shutdown stops an import after the commit in
flight (:meth:`ImportDesk.close`), which leaves the same state.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from newsletter.errors import ImportFileError, NewsletterError
from newsletter.store.imports import ImportSummary, SheetPreview, import_csv
from newsletter.store.lists import utcnow
from newsletter.wording import Wording

log = logging.getLogger("newsletter.web.imports")

# An upload nobody confirmed, and the report of an ended import, are kept this long.
KEEP_SECONDS = 2 * 3600
# How long a shutdown waits for the imports' commits in flight (at most 16,000 rows each).
STOP_WAIT_SECONDS = 30.0


class _StopAsked(Exception):
    """Raised from the progress callback to end an import after the rows just committed."""


@dataclass
class ImportRun:
    """One import of an upload: what it set out to do, how far it got, how it ended."""

    total: int  # distinct addresses the preview counted: what "done" reaches
    started_by: str
    resubscribe: bool
    started_at: datetime = field(default_factory=utcnow)
    summary: ImportSummary | None = None  # the latest, after each commit and at the end
    # Why it stopped before the end: "" (it did not), "stopped" (the server stopped), "failed" (the
    # library's error, in ``error``) or "unexpected" (a bug or the database: see the server log).
    failure: str = ""
    error: str = ""
    error_wording: Wording | None = None  # ``error`` as a code and values, when the library gave one
    ended_at: datetime | None = None
    stop_asked: bool = False
    _ended: threading.Event = field(default_factory=threading.Event)

    @property
    def alive(self) -> bool:
        return not self._ended.is_set()

    @property
    def done(self) -> int:
        return self.summary.rows_done if self.summary is not None else 0

    def wait(self, timeout: float | None = None) -> bool:
        return self._ended.wait(timeout)

    def _progress(self, summary: ImportSummary) -> None:
        self.summary = summary
        if self.stop_asked:
            raise _StopAsked


@dataclass
class Upload:
    """A file uploaded for an import into ``list_name``, kept for the session that uploaded it."""

    id: str
    session_id: int
    list_name: str
    file_name: str  # as the user named it: shown, audited, and in the consent log's source
    path: Path  # the private copy
    size: int
    kept_at: datetime = field(default_factory=utcnow)
    preview: SheetPreview | None = None  # read once; the copy never changes
    run: ImportRun | None = None


class ImportDesk:
    """The uploads and imports of this web process."""

    def __init__(self) -> None:
        self._uploads: dict[str, Upload] = {}
        self._lock = threading.Lock()
        self._folder: Path | None = None

    def _private_folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="newsletter-imports-"))  # mode 0700
        return self._folder

    def keep(self, session_id: int, list_name: str, file_name: str, data: bytes) -> Upload:
        """Keep ``data`` as a new upload of ``session_id``; returns it with its random id."""
        self.forget_old()
        upload_id = secrets.token_urlsafe(18)
        with self._lock:
            path = self._private_folder() / upload_id
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        upload = Upload(upload_id, session_id, list_name, file_name, path, len(data))
        with self._lock:
            self._uploads[upload_id] = upload
        return upload

    def get(self, upload_id: str, session_id: int, list_name: str) -> Upload | None:
        """The upload, if it is this session's and for this list; None otherwise (or when forgotten)."""
        with self._lock:
            upload = self._uploads.get(upload_id)
        if upload is None or upload.session_id != session_id or upload.list_name != list_name:
            return None
        return upload

    def discard(self, upload: Upload) -> bool:
        """Delete an upload that is not being imported; False when its import runs."""
        with self._lock:
            if upload.run is not None and upload.run.alive:
                return False
            self._uploads.pop(upload.id, None)
        upload.path.unlink(missing_ok=True)
        return True

    def start(
        self,
        engine: Engine,
        upload: Upload,
        *,
        resubscribe: bool,
        consent_note: str,
        started_by: str,
        on_end: Callable[[Upload, ImportRun], None],
    ) -> ImportRun | None:
        """Start importing ``upload`` in a thread; None when it was started already (a second click).

        ``on_end`` is called in the thread when the import has ended, whichever way (the audit entry).
        """
        assert upload.preview is not None, "an upload is previewed before it is imported"
        with self._lock:
            if upload.run is not None:
                return None
            run = ImportRun(upload.preview.rows, started_by, resubscribe)
            upload.run = run
        threading.Thread(
            target=self._work,
            args=(engine, upload, run, consent_note, on_end),
            name=f"import {upload.file_name} → {upload.list_name}",
        ).start()
        return run

    def _work(
        self,
        engine: Engine,
        upload: Upload,
        run: ImportRun,
        consent_note: str,
        on_end: Callable[[Upload, ImportRun], None],
    ) -> None:
        try:
            run.summary = import_csv(
                engine,
                upload.path,
                upload.list_name,
                resubscribe=run.resubscribe,
                consent_note=consent_note,
                progress=run._progress,
                file_name=upload.file_name,
            )
        except _StopAsked:
            run.failure = "stopped"
        except NewsletterError as exc:
            run.failure, run.error = "failed", exc.message
            run.error_wording = exc.wording if isinstance(exc, ImportFileError) else None
        except Exception as exc:  # a bug, or the database went away: the rows committed are saved
            log.exception("the import of %s into %s stopped", upload.file_name, upload.list_name)
            run.failure, run.error = "unexpected", type(exc).__name__
        finally:
            upload.path.unlink(missing_ok=True)
            run.ended_at = utcnow()
            try:
                on_end(upload, run)
            except Exception:
                log.exception(
                    "the import of %s into %s could not be audited", upload.file_name, upload.list_name
                )
            run._ended.set()

    def forget_old(self, now: datetime | None = None) -> None:
        """Delete uploads left unconfirmed, and reports of imports ended, more than KEEP_SECONDS ago."""
        limit = (now or utcnow()) - timedelta(seconds=KEEP_SECONDS)
        with self._lock:
            old = [
                upload
                for upload in self._uploads.values()
                if (upload.run is None and upload.kept_at < limit)
                or (
                    upload.run is not None and upload.run.ended_at is not None and upload.run.ended_at < limit
                )
            ]
            for upload in old:
                del self._uploads[upload.id]
        for upload in old:
            upload.path.unlink(missing_ok=True)

    def close(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Stop every import after its commit in flight, wait for them, and delete the private folder."""
        with self._lock:
            alive = [u.run for u in self._uploads.values() if u.run is not None and u.run.alive]
        for run in alive:
            run.stop_asked = True
        for run in alive:
            if not run.wait(timeout):
                log.warning("an import did not stop within %.0f s", timeout)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
