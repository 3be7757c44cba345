"""An issue's Markdown body → sections of blocks, each with safe HTML and plain text.

The body is CommonMark (markdown-it-py, raw HTML off: anything that looks like
a tag is shown as text). On top of it, fenced containers add the elements a
newsletter needs::

    ::: button            one link shown as a call-to-action button
    ::: greeting          the closing greeting ("Glædelig jul …")
    ::: signature         sign-off and signature, one line per line
    ::: column            two to four of these in a row form a multi-column row

``##`` headings start sections. A paragraph that is only an image becomes a
full-width image block. Every block carries its 1-based line in the issue
file, for error messages, plus the HTML fragment (already escaped, author
``%%`` neutralised) and the plain text the text part is built from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import ClassVar
from urllib.parse import urlparse

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.tree import SyntaxTreeNode
from markupsafe import Markup

from newsletter.markdown_text import inline_text, node_text
from newsletter.personalize import neutralise
from newsletter.wording import Texts, Wording

CONTAINERS = ("button", "greeting", "signature", "column")
ALLOWED_LINK_SCHEMES = ("http", "https", "mailto", "tel")
MAX_COLUMNS = 4

_OPENER = re.compile(r"^ {0,3}:::\s*([A-Za-z][\w-]*)?\s*(.*?)\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


BODY_TEXTS = Texts(
    {
        "block-closes-nothing": "':::' closes nothing — remove it, or open a block first, e.g. '::: button'",
        "block-unknown": "unknown block '::: {name}' — use one of: {blocks}",
        "block-inside-block": "'::: {name}' inside '::: {outer}' (opened on line {opened}) — "
        "close the first block with ':::' before opening another",
        "block-not-closed": "'::: {name}' is never closed — add a line ':::' after it",
        "address-refused": "the address '{address}' cannot be used in an email — "
        "links must start with https://, http://, mailto: or tel:",
        "heading-for-title": "'# ' headings are for the title (front matter 'title'/'subject') — "
        "use '## ' for a section",
        "image-without-alt": "image '{src}' has no alt text — write what it shows: ![Borgmesteren på besøg]({src})",
        "link-not-absolute": "link '{href}' is not an absolute address — write https://… or mailto:…",
        "greeting-empty": "'::: greeting' is empty — write the greeting between the ':::' lines",
        "signature-empty": "'::: signature' is empty — write one line per line of the signature",
        "button-needs-one-link": "'::: button' must hold exactly one link, e.g. [Læs mere](https://example.dk/side)",
        "button-link-without-text": "the button's link has no text — write [Læs mere](https://…)",
        "columns-count": "{count} '::: column' block(s) in a row — put 2 to {most} of them one after the other",
        "column-section-heading": "a column cannot start a section — use '### ' inside a column",
        "column-empty": "'::: column' is empty — write its text before ':::'",
    }
)


class BodyError(Exception):
    """A problem in the body at ``line`` (1-based, in the issue file); ``also``: the body's other
    problems, found in the same pass (an author fixes them all in one round). ``wording`` is the
    problem as a code and values (:mod:`newsletter.wording`)."""

    def __init__(self, line: int, message: Wording, also: tuple[BodyError, ...] = ()) -> None:
        super().__init__(message.english)
        self.line = line
        self.wording = message
        self.also = also

    @property
    def every(self) -> tuple[BodyError, ...]:
        return (self, *self.also)


# ---------------------------------------------------------------- the block model


@dataclass(frozen=True)
class Prose:
    """Paragraphs, lists, sub-headings, quotes and code: one run of ordinary text."""

    kind: ClassVar[str] = "prose"
    html: str
    text: str
    line: int


@dataclass(frozen=True)
class Image:
    kind: ClassVar[str] = "image"
    url: str
    alt: str
    title: str
    line: int


@dataclass(frozen=True)
class Button:
    kind: ClassVar[str] = "button"
    label: str
    url: str
    line: int


@dataclass(frozen=True)
class Greeting:
    kind: ClassVar[str] = "greeting"
    html: str
    text: str
    line: int


@dataclass(frozen=True)
class Signature:
    kind: ClassVar[str] = "signature"
    lines_html: tuple[str, ...]
    lines_text: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Columns:
    kind: ClassVar[str] = "columns"
    columns: tuple[tuple[Block, ...], ...]
    line: int


Block = Prose | Image | Button | Greeting | Signature | Columns


@dataclass
class Section:
    heading: str | None
    line: int
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Body:
    sections: list[Section]
    links: list[str]
    images: list[Image]


# Resolves an image's src (as written) to its public URL; raises BodyError when unusable.
ImageResolver = Callable[[str, int], str]


# The addresses markdown-it refused (javascript:, vbscript:, file:, …) while parsing one chunk.
# markdown-it shows a refused link as its bracket text, silently; the parser makes it an error.
_REFUSED_LINKS: ContextVar[list[str] | None] = ContextVar("refused_links", default=None)


class _NoticingMarkdown(MarkdownIt):
    def validateLink(self, url: str) -> bool:
        allowed = super().validateLink(url)
        refused = _REFUSED_LINKS.get()
        if not allowed and refused is not None:
            refused.append(url)
        return allowed


def _drop_fence_info(state: StateCore) -> None:
    """A code block's info string (```python) would become class="language-…" — author text in an
    attribute, of no use in an email; the block is shown the same without it."""
    for token in state.tokens:
        if token.type == "fence":
            token.info = ""


def _markdown() -> MarkdownIt:
    md = _NoticingMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.core.ruler.push("drop_fence_info", _drop_fence_info)
    return md


_MD = _markdown()


# ---------------------------------------------------------------- splitting out containers


@dataclass
class _Chunk:
    container: str | None  # None: plain Markdown
    argument: str
    lines: list[str]
    first_line: int  # 1-based line of the chunk's first content line


def _split_containers(lines: list[str], first_line: int) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    plain = _Chunk(None, "", [], first_line)
    open_chunk: _Chunk | None = None
    open_line = 0
    fence: str | None = None
    for offset, line in enumerate(lines):
        number = first_line + offset
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker[0] * len(marker)
            elif marker.startswith(fence):
                fence = None
        opener = None if fence else _OPENER.match(line)
        target = open_chunk or plain
        if opener is None:
            target.lines.append(line)
            continue
        name, argument = opener.group(1), opener.group(2)
        if open_chunk is None:
            if not name:
                raise BodyError(number, BODY_TEXTS("block-closes-nothing"))
            if name not in CONTAINERS:
                raise BodyError(number, BODY_TEXTS("block-unknown", name=name, blocks=", ".join(CONTAINERS)))
            chunks.append(plain)
            open_chunk, open_line = _Chunk(name, argument, [], number + 1), number
        elif name:
            outer = open_chunk.container or ""
            raise BodyError(
                number, BODY_TEXTS("block-inside-block", name=name, outer=outer, opened=open_line)
            )
        else:
            chunks.append(open_chunk)
            open_chunk = None
            plain = _Chunk(None, "", [], number + 1)
    if open_chunk is not None:
        raise BodyError(open_line, BODY_TEXTS("block-not-closed", name=open_chunk.container or ""))
    chunks.append(plain)
    return [chunk for chunk in chunks if chunk.container or any(line.strip() for line in chunk.lines)]


# ---------------------------------------------------------------- Markdown → blocks


class BodyParser:
    """Turns one issue body into :class:`Body`. ``resolve_image`` maps an image src to a URL."""

    def __init__(self, resolve_image: ImageResolver) -> None:
        self.resolve_image = resolve_image
        self.links: list[str] = []
        self.images: list[Image] = []
        self.source: list[str] = []
        self.first_line = 1
        # Problems are noted and parsing goes on, so one pass finds them all; parse() raises at the end.
        self.problems: list[BodyError] = []

    def parse(self, text: str, first_line: int) -> Body:
        self.source = text.split("\n")
        self.first_line = first_line
        sections = [Section(None, first_line)]
        chunks = _split_containers(self.source, first_line)
        index = 0
        while index < len(chunks):
            chunk = chunks[index]
            try:
                if chunk.container == "column":
                    run = [chunk]
                    while index + 1 < len(chunks) and chunks[index + 1].container == "column":
                        index += 1
                        run.append(chunks[index])
                    sections[-1].blocks.append(self._columns(run))
                elif chunk.container:
                    sections[-1].blocks.append(self._container(chunk))
                else:
                    self._plain(chunk, sections)
            except BodyError as problem:
                self.problems.append(problem)
            index += 1
        if self.problems:
            first, *others = sorted(self.problems, key=lambda problem: problem.line)
            raise BodyError(first.line, first.wording, tuple(others))
        if sections[0].heading is None and not sections[0].blocks and len(sections) > 1:
            sections.pop(0)
        return Body(sections=sections, links=self.links, images=self.images)

    def _nodes(self, chunk: _Chunk) -> list[SyntaxTreeNode]:
        refused: list[str] = []
        noticing = _REFUSED_LINKS.set(refused)
        try:
            nodes = list(SyntaxTreeNode(_MD.parse("\n".join(chunk.lines))).children)
        finally:
            _REFUSED_LINKS.reset(noticing)
        for address in dict.fromkeys(refused):
            written = next((n for n, line in enumerate(chunk.lines) if address in line), 0)
            self.problems.append(
                BodyError(chunk.first_line + written, BODY_TEXTS("address-refused", address=address))
            )
        return nodes

    def _line_of(self, node: SyntaxTreeNode, chunk: _Chunk) -> int:
        return chunk.first_line + (node.map[0] if node.map else 0)

    def _plain(self, chunk: _Chunk, sections: list[Section]) -> None:
        for node in self._nodes(chunk):
            line = self._line_of(node, chunk)
            if node.type == "heading" and node.tag == "h1":
                self.problems.append(BodyError(line, BODY_TEXTS("heading-for-title")))
                continue
            if node.type == "heading" and node.tag == "h2":
                heading = neutralise(inline_text(node.children[0], with_urls=False))
                self._collect_links(node, line, chunk)
                sections.append(Section(heading, line))
                continue
            try:
                sections[-1].blocks.append(self._block(node, chunk))
            except BodyError as problem:
                self.problems.append(problem)
        for section in sections:
            section.blocks = _merge_prose(section.blocks)

    def _block(self, node: SyntaxTreeNode, chunk: _Chunk) -> Block:
        line = self._line_of(node, chunk)
        self._collect_links(node, line, chunk)
        image = _lone_image(node)
        if image is not None:
            return self._image(image, line, chunk, node)
        self._resolve_inline_images(node, line, chunk)
        html = _MD.renderer.render(node.to_tokens(), _MD.options, {})
        return Prose(html=Markup(neutralise(html)), text=neutralise(node_text(node)), line=line)

    def _image(self, image: SyntaxTreeNode, line: int, chunk: _Chunk, paragraph: SyntaxTreeNode) -> Image:
        src = str(image.attrs.get("src", ""))
        line = self._locate(src, paragraph, chunk, line)
        alt = inline_text(image, with_urls=False).strip()
        if not alt:
            self.problems.append(BodyError(line, BODY_TEXTS("image-without-alt", src=src)))
        try:
            url = self.resolve_image(src, line)
        except BodyError as problem:
            self.problems.append(problem)
            url = src
        block = Image(
            url=url,
            alt=neutralise(alt),
            title=neutralise(str(image.attrs.get("title", "") or "")),
            line=line,
        )
        self.images.append(block)
        return block

    def _resolve_inline_images(self, node: SyntaxTreeNode, line: int, chunk: _Chunk) -> None:
        for child in node.walk():
            if child.type == "image":
                image = self._image(child, line, chunk, node)
                child.attrs["src"] = image.url
                child.attrs["style"] = "max-width:100%;height:auto;"

    def _collect_links(self, node: SyntaxTreeNode, line: int, chunk: _Chunk) -> None:
        for child in node.walk():
            if child.type != "link":
                continue
            href = str(child.attrs.get("href", ""))
            scheme = urlparse(href).scheme.lower()
            if scheme not in ALLOWED_LINK_SCHEMES or (
                scheme in ("http", "https") and not urlparse(href).netloc
            ):
                self.problems.append(
                    BodyError(
                        self._locate(href, node, chunk, line), BODY_TEXTS("link-not-absolute", href=href)
                    )
                )
                continue
            self.links.append(href)

    def _locate(self, needle: str, node: SyntaxTreeNode, chunk: _Chunk, default: int) -> int:
        """The line inside ``node`` where ``needle`` is written (links and images span no lines)."""
        if not node.map or not needle:
            return default
        start, end = node.map
        for offset in range(start, end):
            if offset < len(chunk.lines) and needle in chunk.lines[offset]:
                return chunk.first_line + offset
        return default

    # ------------------------------------------------------------ containers

    def _container(self, chunk: _Chunk) -> Block:
        opened = chunk.first_line - 1
        noted = len(self.problems)
        nodes = self._nodes(chunk)
        for node in nodes:
            self._collect_links(node, self._line_of(node, chunk), chunk)
        if len(self.problems) > noted:
            # A refused or relative address: the block's own rules ("exactly one link") would
            # only repeat that problem in other words. The parse fails anyway; this block is a stand-in.
            return Prose(html=Markup(""), text="", line=opened)
        if chunk.container == "button":
            return self._button(chunk, nodes, opened)
        if chunk.container == "greeting":
            if not nodes:
                raise BodyError(opened, BODY_TEXTS("greeting-empty"))
            html = "".join(_MD.renderer.render(node.to_tokens(), _MD.options, {}) for node in nodes)
            text = "\n\n".join(node_text(node) for node in nodes)
            return Greeting(html=Markup(neutralise(html)), text=neutralise(text), line=opened)
        lines = [line.strip() for line in chunk.lines if line.strip()]
        if not lines:
            raise BodyError(opened, BODY_TEXTS("signature-empty"))
        return Signature(
            lines_html=tuple(Markup(neutralise(_MD.renderInline(line))) for line in lines),
            lines_text=tuple(neutralise(inline_text(_inline_node(line), with_urls=True)) for line in lines),
            line=opened,
        )

    def _button(self, chunk: _Chunk, nodes: list[SyntaxTreeNode], opened: int) -> Button:
        links = [child for node in nodes for child in node.walk() if child.type == "link"]
        if len(nodes) != 1 or len(links) != 1:
            raise BodyError(opened, BODY_TEXTS("button-needs-one-link"))
        link = links[0]
        label = inline_text(link, with_urls=False).strip()
        if not label:
            raise BodyError(opened, BODY_TEXTS("button-link-without-text"))
        return Button(label=neutralise(label), url=neutralise(str(link.attrs["href"])), line=opened)

    def _columns(self, run: list[_Chunk]) -> Columns:
        opened = run[0].first_line - 1
        if len(run) < 2 or len(run) > MAX_COLUMNS:
            raise BodyError(opened, BODY_TEXTS("columns-count", count=len(run), most=MAX_COLUMNS))
        columns: list[tuple[Block, ...]] = []
        for chunk in run:
            blocks: list[Block] = []
            for node in self._nodes(chunk):
                if node.type == "heading" and node.tag in ("h1", "h2"):
                    raise BodyError(self._line_of(node, chunk), BODY_TEXTS("column-section-heading"))
                blocks.append(self._block(node, chunk))
            if not blocks:
                raise BodyError(chunk.first_line - 1, BODY_TEXTS("column-empty"))
            columns.append(tuple(_merge_prose(blocks)))
        return Columns(columns=tuple(columns), line=opened)


def _merge_prose(blocks: list[Block]) -> list[Block]:
    """Adjacent prose blocks become one, so a template lays out one text block per run."""
    merged: list[Block] = []
    for block in blocks:
        previous = merged[-1] if merged else None
        if isinstance(block, Prose) and isinstance(previous, Prose):
            merged[-1] = Prose(
                Markup(previous.html + block.html), previous.text + "\n\n" + block.text, previous.line
            )
        else:
            merged.append(block)
    return merged


def _lone_image(node: SyntaxTreeNode) -> SyntaxTreeNode | None:
    """The image when a paragraph holds nothing but one image."""
    if node.type != "paragraph" or not node.children:
        return None
    inline = node.children[0]
    parts = [child for child in inline.children if not (child.type == "text" and not child.content.strip())]
    if len(parts) == 1 and parts[0].type == "image":
        return parts[0]
    return None


def _inline_node(text: str) -> SyntaxTreeNode:
    tokens = _MD.parseInline(text)
    return SyntaxTreeNode(tokens).children[0]


def parse_body(text: str, first_line: int, resolve_image: ImageResolver) -> Body:
    """Parse ``text`` (the body, starting on line ``first_line`` of its file)."""
    return BodyParser(resolve_image).parse(text, first_line)
