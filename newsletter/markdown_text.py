"""The plain text of Markdown nodes: what each block of an issue reads as in the text part.

:mod:`newsletter.markdown` gives every block its text when the body is parsed;
:mod:`newsletter.plaintext` assembles the issue's whole text part from those
blocks. Links are written out as ``text (URL)``; paragraphs wrap at
:data:`WRAP_WIDTH` columns.
"""

from __future__ import annotations

import textwrap

from markdown_it.tree import SyntaxTreeNode

WRAP_WIDTH = 72
# No line of the text part is longer (RFC 5322's advice), except an address too long for any line:
# it then stands on a line of its own, where a mail client still makes it a link.
TEXT_LINE_LIMIT = 78
_PLACEHOLDER_START = "%%nl:"


def labelled_url(label: str, url: str) -> str:
    """``Label: URL`` on one line when it fits in :data:`TEXT_LINE_LIMIT`, else the address on
    the next line. A merge placeholder stands for a signed per-recipient link whose length is not
    known until the send (about 100 characters): it always gets a line of its own."""
    one_line = f"{label}: {url}"
    if len(one_line) <= TEXT_LINE_LIMIT and not url.startswith(_PLACEHOLDER_START):
        return one_line
    return f"{label}:\n{url}"


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
