"""The plain-text twin of an issue, built from the issue itself (never scraped from HTML).

Each Markdown block gets its text when the body is parsed
(:mod:`newsletter.markdown_text`); :func:`issue_text` assembles the whole part.

Layout: web-version line, kicker, title underlined, date, optional salutation,
then each section (heading underlined with ``-``) with its paragraphs, lists,
images as ``[alt]``, buttons as ``label: URL``, columns one after another;
the greeting and signature; and a footer with the organisation, the
why-you-get-this line and the unsubscribe address. Links are written out as
``text (URL)``. Per-recipient values stay ``%%nl:…%%`` placeholders.
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.dates import strings_for
from newsletter.issue import Issue
from newsletter.markdown import Block
from newsletter.markdown_text import WRAP_WIDTH, labelled_url, wrap_text
from newsletter.personalize import placeholder


def block_text(block: Block) -> str:
    if block.kind in ("prose", "greeting"):
        return block.text  # type: ignore[union-attr]
    if block.kind == "image":
        return f"[{block.alt}]"  # type: ignore[union-attr]
    if block.kind == "button":
        return labelled_url(block.label, block.url)  # type: ignore[union-attr]
    if block.kind == "signature":
        return "\n".join(block.lines_text)  # type: ignore[union-attr]
    return "\n\n".join(block_text(inner) for column in block.columns for inner in column)  # type: ignore[union-attr]


def footer_text(settings: Settings, lang: str) -> str:
    strings = strings_for(lang)
    organisation = settings.organisation
    return "\n".join(
        [
            "-- ",
            organisation.name,
            organisation.address,
            "",
            wrap_text(strings["why"].format(organisation=organisation.name)),
            labelled_url(strings["unsubscribe"], placeholder("unsubscribe_url")),
            labelled_url(strings["preferences"], placeholder("preferences_url")),
        ]
    )


def issue_text(issue: Issue, settings: Settings, *, date_text: str, salutation: str) -> str:
    """The complete text part of ``issue``, with merge placeholders."""
    strings = strings_for(issue.lang)
    parts: list[str] = [labelled_url(strings["web_version"], placeholder("web_url"))]
    heading = [issue.kicker] if issue.kicker else []  # as written: the seed's text reads 'Jul i …'
    heading += [issue.title, "=" * min(len(issue.title), WRAP_WIDTH)]
    if date_text:
        heading.append(date_text)
    parts.append("\n".join(heading))
    if salutation:
        parts.append(salutation)
    for section in issue.sections:
        if section.heading:
            parts.append(section.heading + "\n" + "-" * min(len(section.heading), WRAP_WIDTH))
        parts.extend(block_text(block) for block in section.blocks)
    parts.append(footer_text(settings, issue.lang))
    return "\n\n".join(parts) + "\n"
