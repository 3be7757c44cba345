"""Find where broken MJML came from: the generated line, and the template line that wrote it.

MRML (mjml-python) raises ``ValueError`` without a line for broken MJML and
silently passes unknown tags such as ``<mj-sectin>`` through to the HTML.
Author text is escaped before it reaches the MJML, so any tag problem was
written by a template: we find the generated line by parsing the MJML as XML
(expat knows lines), then the template line whose text produces it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from pathlib import Path
from xml.parsers import expat

from newsletter.errors import RenderError
from newsletter.template_sources import find_template, template_display, template_location

KNOWN_TAGS = frozenset(
    {
        "mjml",
        "mj-head",
        "mj-body",
        "mj-attributes",
        "mj-all",
        "mj-class",
        "mj-breakpoint",
        "mj-font",
        "mj-html-attributes",
        "mj-html-attribute",
        "mj-selector",
        "mj-preview",
        "mj-style",
        "mj-title",
        "mj-include",
        "mj-raw",
        "mj-accordion",
        "mj-accordion-element",
        "mj-accordion-title",
        "mj-accordion-text",
        "mj-button",
        "mj-carousel",
        "mj-carousel-image",
        "mj-column",
        "mj-divider",
        "mj-group",
        "mj-hero",
        "mj-image",
        "mj-navbar",
        "mj-navbar-link",
        "mj-section",
        "mj-social",
        "mj-social-element",
        "mj-spacer",
        "mj-table",
        "mj-text",
        "mj-wrapper",
    }
)
_MJ_TAG = re.compile(r"</?(mj-[A-Za-z0-9_-]+)")
_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}")
# HTML entities XML does not know (&nbsp; …) would stop expat before the real problem.
_NAMED_ENTITY = re.compile(r"&(?!(?:amp|lt|gt|quot|apos);|#)(\w+);")


def _template_files(template_name: str, folders: Sequence[Path]) -> list[Path]:
    """The issue's own template first, then every other one, the project's before the built-ins."""
    first = find_template(template_name, folders)
    others = [path for folder in folders for path in sorted(folder.glob("*.j2")) if path != first]
    return ([first] if first else []) + others


def _find_in_templates(needle: str, template_name: str, folders: Sequence[Path]) -> tuple[Path, int] | None:
    for path in _template_files(template_name, folders):
        for number, line in enumerate(path.read_text(encoding="utf-8").split("\n"), start=1):
            if needle in line:
                return path, number
    return None


def _template_line_for(
    generated: str, template_name: str, folders: Sequence[Path]
) -> tuple[Path, int] | None:
    """The template line that, with its ``{{ … }}`` filled in, produced ``generated``.

    An exact line wins; otherwise a line whose literal text (Jinja parts as
    wildcards) matches. The issue's own template is searched first.
    """
    target = generated.strip()
    if not target:
        return None
    files = [
        (path, path.read_text(encoding="utf-8").split("\n"))
        for path in _template_files(template_name, folders)
    ]
    for path, lines in files:
        for number, line in enumerate(lines, start=1):
            if line.strip() == target:
                return path, number
    for path, lines in files:
        for number, line in enumerate(lines, start=1):
            pieces = _JINJA.split(line.strip())
            if len("".join(pieces).strip()) < 4:  # mostly Jinja: would match anything
                continue
            pattern = ".*?".join(re.escape(piece) for piece in pieces)
            if re.search(pattern, target):
                return path, number
    return None


def check_mjml_tags(mjml: str, template_name: str, folders: Sequence[Path], root: Path) -> None:
    """Raise RenderError for the first ``mj-`` tag MRML does not know."""
    for match in _MJ_TAG.finditer(mjml):
        tag = match.group(1)
        if tag in KNOWN_TAGS:
            continue
        generated_line = mjml.count("\n", 0, match.start()) + 1
        guess = difflib.get_close_matches(tag, KNOWN_TAGS, n=1)
        hint = f"did you mean <{guess[0]}>?" if guess else "see the MJML documentation for the tag names"
        found = _find_in_templates(match.group(0), template_name, folders)
        where, line = (found[0], found[1]) if found else (template_location(template_name, folders), None)
        raise RenderError(
            template_display(where, root),
            f"unknown MJML tag <{tag}> (generated MJML line {generated_line}) — MRML would pass it "
            f"into the email silently; {hint}",
            line,
        )


def locate_mjml_error(
    mjml: str, mrml_message: str, template_name: str, folders: Sequence[Path], root: Path
) -> RenderError:
    """A RenderError for MJML that MRML rejected, located as precisely as expat allows."""
    lines = mjml.split("\n")
    open_tags: list[tuple[str, int]] = []
    parser = expat.ParserCreate()

    def start(name: str, _attributes: object) -> None:
        open_tags.append((name, parser.CurrentLineNumber))

    def end(_name: str) -> None:
        if open_tags:
            open_tags.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    default = template_display(template_location(template_name, folders), root)
    try:
        parser.Parse(_NAMED_ENTITY.sub(r"&amp;\1;", mjml), True)
    except expat.ExpatError as exc:
        problem = expat.errors.messages.get(exc.code, "invalid XML") if exc.code else "invalid XML"
        error_line = exc.lineno
        culprit = error_line
        detail = f"{problem} at generated MJML line {error_line}"
        text = lines[error_line - 1] if 0 < error_line <= len(lines) else ""
        # expat points just after the "</" of a mismatched closing tag.
        closing = re.match(r"([\w-]+)", text[exc.offset :]) if text[: exc.offset].endswith("</") else None
        stray = closing is not None and closing.group(1) not in {name for name, _ in open_tags}
        if stray and closing is not None:
            detail += f"; </{closing.group(1)}> closes a tag that is not open"
        elif open_tags and ("mismatched" in problem or "no element" in problem or "unclosed" in problem):
            name, opened = open_tags[-1]
            culprit = opened
            detail += f"; <{name}> opened on generated line {opened} is not closed there"
        snippet = lines[culprit - 1].strip()[:80] if 0 < culprit <= len(lines) else ""
        found = _template_line_for(snippet, template_name, folders) if snippet else None
        where, line = (template_display(found[0], root), found[1]) if found else (default, None)
        return RenderError(
            where,
            f"invalid MJML ({mrml_message}): {detail}: `{snippet}` — check that every tag is closed",
            line,
        )
    return RenderError(default, f"MRML rejected the generated MJML: {mrml_message}")
