"""The plain-text twin of an issue, built from the issue itself (never scraped from HTML).

Each Markdown block gets its text when the body is parsed (:func:`node_text`);
:func:`issue_text` assembles the whole part.

Layout: web-version line, kicker, title underlined, date, optional salutation,
then each section (heading underlined with ``-``) with its paragraphs, lists,
images as ``[alt]``, buttons as ``label: URL``, columns one after another;
the greeting and signature; and a footer with the organisation, the
why-you-get-this line and the unsubscribe address. Links are written out as
``text (URL)``. Per-recipient values stay ``%%nl:…%%`` placeholders.
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING

from markdown_it.tree import SyntaxTreeNode

from newsletter.config import Settings
from newsletter.dates import strings_for
from newsletter.personalize import placeholder

if TYPE_CHECKING:  # issue and markdown import this module for the text of each block
    from newsletter.issue import Issue
    from newsletter.markdown import Block

WRAP_WIDTH = 72


def inline_text(node: SyntaxTreeNode, *, with_urls: bool) -> str:
    out: list[str] = []
    for child in node.children:
        kind = child.type
        if kind in ("text", "code_inline", "html_inline"):
            out.append(child.content)
        elif kind == "softbreak":
            out.append(" ")
        elif kind == "hardbreak":
            out.append("\n")
        elif kind == "link":
            label = inline_text(child, with_urls=with_urls)
            href = str(child.attrs.get("href", ""))
            shown = href.removeprefix("mailto:")
            out.append(f"{label} ({href})" if with_urls and shown != label.strip() else label)
        elif kind == "image":
            out.append(inline_text(child, with_urls=False))
        else:
            out.append(inline_text(child, with_urls=with_urls))
    return "".join(out)


def wrap_text(text: str, indent: str = "", first: str = "") -> str:
    lines: list[str] = []
    for index, raw in enumerate(text.split("\n")):
        lines.extend(
            textwrap.wrap(
                raw,
                WRAP_WIDTH,
                initial_indent=first if index == 0 else indent,
                subsequent_indent=indent,
                break_long_words=False,
                break_on_hyphens=False,
            )
            or [indent.rstrip()]
        )
    return "\n".join(lines)


def node_text(node: SyntaxTreeNode, indent: str = "") -> str:
    kind = node.type
    if kind == "paragraph":
        return wrap_text(inline_text(node.children[0], with_urls=True), indent, indent)
    if kind == "heading":
        # Sub-headings stand on their own line; underlines are kept for sections and the title.
        return indent + inline_text(node.children[0], with_urls=True)
    if kind in ("bullet_list", "ordered_list"):
        start = int(node.attrs.get("start", 1) or 1)
        items = []
        for number, item in enumerate(node.children, start=start):
            marker = f"{number}. " if kind == "ordered_list" else "- "
            body = "\n".join(node_text(child, indent + " " * len(marker)) for child in item.children)
            items.append(indent + marker + body[len(indent) + len(marker) :])
        return "\n".join(items)
    if kind == "blockquote":
        inner = "\n\n".join(node_text(child) for child in node.children)
        return "\n".join(indent + "> " + line for line in inner.split("\n"))
    if kind in ("fence", "code_block"):
        return "\n".join(indent + "    " + line for line in node.content.rstrip("\n").split("\n"))
    if kind == "hr":
        return indent + "-" * 20
    return indent + node.content


def block_text(block: Block) -> str:
    if block.kind in ("prose", "greeting"):
        return block.text  # type: ignore[union-attr]
    if block.kind == "image":
        return f"[{block.alt}]"  # type: ignore[union-attr]
    if block.kind == "button":
        return f"{block.label}: {block.url}"  # type: ignore[union-attr]
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
            strings["unsubscribe_text"].format(url=placeholder("unsubscribe_url")),
            f"{strings['preferences']}: {placeholder('preferences_url')}",
        ]
    )


def issue_text(issue: Issue, settings: Settings, *, date_text: str, salutation: str) -> str:
    """The complete text part of ``issue``, with merge placeholders."""
    strings = strings_for(issue.lang)
    parts: list[str] = [strings["web_version_text"].format(url=placeholder("web_url"))]
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
