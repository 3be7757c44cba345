"""Checks of an issue as the sender will send it: merged for a sample recipient, headers included."""

from __future__ import annotations

import email.policy
from collections.abc import Callable, Mapping
from email.parser import BytesParser
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from newsletter.assets import issue_folder, links_in_folder
from newsletter.checks.core import Finding, PageParts, SourceMap, check_html
from newsletter.checks.online import check_online

if TYPE_CHECKING:
    from newsletter.config import Settings
    from newsletter.issue import Issue
    from newsletter.preview.sample import SampleRecipient
    from newsletter.render import Rendered


def check_issue(
    issue: Issue,
    rendered: Rendered,
    settings: Settings,
    *,
    online: bool = False,
    client: httpx.Client | None = None,
    recipient: SampleRecipient | None = None,
) -> list[Finding]:
    """Every finding for ``rendered`` (from :func:`newsletter.render.render_issue`) of ``issue``.

    Merged for ``recipient`` (default: the settings' sample). ``online`` also asks
    every link and image whether it answers, through ``client`` when given.
    """
    from newsletter.personalize import merge
    from newsletter.preview.sample import sample_values

    source = SourceMap(str(issue.path), issue.source, issue.field_lines)
    values = sample_values(settings, rendered.slug, recipient, lang=rendered.lang)
    findings: list[Finding] = []
    try:
        html, text = merge(rendered.html, rendered.text, values)
    except ValueError as exc:  # an unknown %%nl:…%% placeholder in a template
        findings.append(
            Finding("error", "leftover-marker", f"{exc} — use only known merge values", source.file)
        )
        html, text = rendered.html, rendered.text
    headers, origin = sending_headers(settings, rendered.slug, values)
    findings += check_html(
        html,
        text,
        subject=rendered.subject,
        preheader=rendered.preheader,
        source=source,
        lang=rendered.lang,
        unsubscribe_url=values["unsubscribe_url"],
        headers=headers,
        headers_origin=origin,
    )
    findings += _check_image_folder(Path(issue.path))
    if online:
        personal = {values.get(k, "") for k in ("unsubscribe_url", "preferences_url", "web_url")}
        page = PageParts()
        page.feed(html)
        urls = [t.attrs.get("href") or "" for t in page.links] + [
            t.attrs.get("src") or "" for t in page.images
        ]
        findings += check_online((u for u in urls if u not in personal), client=client, source=source)
    return findings


def _check_image_folder(issue_path: Path) -> list[Finding]:
    """A link in ``issues/<slug>/`` is an error even when no image uses it yet: it is never published."""
    return [
        Finding("error", "image-folder-link", f"{path.name} {problem}", str(path))
        for path, problem in links_in_folder(issue_folder(issue_path))
    ]


def sending_headers(
    settings: Settings, slug: str, values: Mapping[str, str]
) -> tuple[dict[str, str] | None, str]:
    """The headers the sending path adds to a message of ``slug``, and where they came from.

    Asks the sender's own header helper when it exists, else reads the
    ``message.eml`` that ``newsletter build`` wrote. (None, reason) when neither
    is available.
    """
    helper = _sender_header_helper()
    if helper is not None:
        return dict(helper(settings, values["unsubscribe_url"])), "from newsletter.send"
    eml = settings.build_dir / slug / "message.eml"
    if not eml.is_file():
        return None, f"no {eml}"
    with eml.open("rb") as handle:
        message = BytesParser(policy=email.policy.default).parse(handle, headersonly=True)
    return {name: str(value) for name, value in message.items()}, f"from {eml}"


def _sender_header_helper() -> Callable[[Settings, str], Mapping[str, str]] | None:
    try:
        from newsletter.send.recipients import list_unsubscribe_headers
    except ImportError:  # a build without the sending package: fall back to message.eml
        return None
    return list_unsubscribe_headers
