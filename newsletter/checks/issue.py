"""Checks of an issue as the sender will send it: merged for a sample recipient, headers included."""

from __future__ import annotations

from pathlib import Path

import httpx

from newsletter.assets import issue_folder, links_in_folder
from newsletter.checks.core import Finding, PageParts, SourceMap, check_html
from newsletter.checks.online import check_online
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.config import Settings
from newsletter.issue import Issue
from newsletter.per_recipient import SamplePerson, sample_recipient
from newsletter.personalize import UnknownPlaceholders, merge
from newsletter.render import Rendered
from newsletter.scaffold import UNFINISHED_TEXT


def check_issue(
    issue: Issue,
    rendered: Rendered,
    settings: Settings,
    *,
    online: bool = False,
    client: httpx.Client | None = None,
    recipient: SamplePerson | None = None,
) -> list[Finding]:
    """Every finding for ``rendered`` (from :func:`newsletter.render.render_issue`) of ``issue``.

    Merged for ``recipient`` (default: the settings' sample), with the
    List-Unsubscribe headers a send adds (the same builder, in
    :mod:`newsletter.message`). ``online`` also asks every link and image
    whether it answers, through ``client`` when given.
    """
    source = SourceMap(str(issue.path), issue.source, issue.field_lines)
    sample = sample_recipient(settings, rendered.slug, lang=rendered.lang, person=recipient)
    values = sample.values
    findings: list[Finding] = []
    try:
        html, text = merge(rendered.html, rendered.text, values)
    except UnknownPlaceholders as exc:  # an unknown %%nl:…%% placeholder in a template
        unknown = CHECK_TEXTS("placeholder-unknown", names=", ".join(exc.names))
        findings.append(Finding.worded("error", unknown, source.file, code="leftover-marker"))
        html, text = rendered.html, rendered.text
    findings += check_html(
        html,
        text,
        subject=rendered.subject,
        preheader=rendered.preheader,
        source=source,
        lang=rendered.lang,
        unsubscribe_url=values["unsubscribe_url"],
        headers=sample.headers,
    )
    findings += _check_image_folder(Path(issue.path))
    findings += _check_unfinished(issue)
    if online:
        personal = {values.get(k, "") for k in ("unsubscribe_url", "preferences_url", "web_url")}
        page = PageParts()
        page.feed(html)
        urls = [t.attrs.get("href") or "" for t in page.links] + [
            t.attrs.get("src") or "" for t in page.images
        ]
        findings += check_online((u for u in urls if u not in personal), client=client, source=source)
    return findings


def _check_unfinished(issue: Issue) -> list[Finding]:
    """The new-issue skeleton's stand-in text, left in: one error per line that still has it."""
    findings = []
    for number, line in enumerate(issue.source.splitlines(), start=1):
        left = next((text for text in UNFINISHED_TEXT if text in line), None)
        if left is not None:
            findings.append(
                Finding.worded(
                    "error", CHECK_TEXTS("unfinished-text", text=left[:40]), str(issue.path), number
                )
            )
    return findings


def _check_image_folder(issue_path: Path) -> list[Finding]:
    """A link in ``issues/<slug>/`` is an error even when no image uses it yet: it is never published."""
    return [
        Finding.worded("error", CHECK_TEXTS("image-folder-link", name=path.name, problem=problem), str(path))
        for path, problem in links_in_folder(issue_folder(issue_path))
    ]
