"""One build of the previewed issue: load, render, merge for the sample recipient, check.

:class:`Builder` rebuilds on demand and never raises for a broken issue,
template or settings file: the error (one line naming file and line) goes
into the :class:`Snapshot`, next to the last good render, so the page can show
both and the server keeps running while the author fixes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from newsletter.checks import Finding, check_issue
from newsletter.config import Settings, load_settings
from newsletter.errors import NewsletterError
from newsletter.issue import load_issue
from newsletter.per_recipient import SamplePerson, default_sample, sample_recipient
from newsletter.personalize import merge
from newsletter.render import render_issue
from newsletter.template_sources import template_folders


@dataclass(frozen=True)
class Snapshot:
    """What the preview page shows. ``version`` grows by one per build."""

    version: int = 0
    error: str = ""  # the last build's failure; the fields below are then the last good build
    html: str = ""
    text: str = ""
    subject: str = ""
    preheader: str = ""
    sender: str = ""
    recipient: str = ""  # who the preview is personalised for
    slug: str = ""
    findings: tuple[Finding, ...] = ()
    # Local images: public URL → file on disk, served by the preview under /assets/.
    assets: tuple[tuple[str, Path], ...] = ()
    built_at: float = 0.0
    build_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "error": self.error,
            "text": self.text,
            "subject": self.subject,
            "preheader": self.preheader,
            "sender": self.sender,
            "recipient": self.recipient,
            "slug": self.slug,
            "findings": [f.to_dict() for f in self.findings],
            "built_at": self.built_at,
            "build_seconds": round(self.build_seconds, 4),
        }


@dataclass
class Builder:
    """Builds snapshots of one issue file with the settings at ``settings_path``."""

    issue_path: Path
    settings: Settings
    recipient: SamplePerson | None = None
    snapshot: Snapshot = field(default_factory=Snapshot)

    def reload_settings(self) -> None:
        if self.settings.path is not None:
            self.settings = load_settings(self.settings.path)

    def build(self, *, reload_settings: bool = False) -> Snapshot:
        """A new snapshot (never raises a NewsletterError: it is recorded in ``error``)."""
        started = time.perf_counter()
        version = self.snapshot.version + 1
        try:
            if reload_settings:
                self.reload_settings()
            built = self._render()
        except NewsletterError as exc:
            self.snapshot = replace(self.snapshot, version=version, error=str(exc), built_at=time.time())
            return self.snapshot
        self.snapshot = replace(
            built,
            version=version,
            built_at=time.time(),
            build_seconds=time.perf_counter() - started,
        )
        return self.snapshot

    def _render(self) -> Snapshot:
        settings = self.settings
        issue = load_issue(self.issue_path, settings)
        rendered = render_issue(issue, settings)
        person = self.recipient or default_sample(settings)
        values = sample_recipient(settings, rendered.slug, lang=rendered.lang, person=person).values
        try:
            html, text = merge(rendered.html, rendered.text, values)
        except ValueError as exc:  # an unknown placeholder: the checks report it too
            raise NewsletterError(f"{issue.path}: {exc}") from exc
        findings = check_issue(issue, rendered, settings, recipient=self.recipient)
        sender = f"{settings.sender.name} <{settings.sender.email}>"
        assets = tuple((url, Path(source)) for source, url in rendered.assets)
        return Snapshot(
            html=html,
            text=text,
            subject=rendered.subject,
            preheader=rendered.preheader,
            sender=sender,
            recipient=f"{person.name} <{person.email}>" if person.name else person.email,
            slug=rendered.slug,
            findings=tuple(findings),
            assets=assets,
        )

    def is_watched(self, path: Path) -> bool:
        """True when a change to ``path`` can change this issue's render."""
        settings = self.settings
        resolved = path.resolve()
        issue = self.issue_path.resolve()
        if resolved == issue or issue.with_suffix("") in resolved.parents:
            return True  # the issue or its image folder issues/<slug>/
        if settings.path is not None and resolved == settings.path.resolve():
            return True
        return any(
            folder.resolve() in resolved.parents for folder in template_folders(settings.templates_dir)
        )
