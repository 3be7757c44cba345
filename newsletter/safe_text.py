"""Rules for hostile text: what may go into a mail header, a spreadsheet cell or a terminal.

One module, so that every place that takes text in (issue front matter,
newsletter.toml, CSV import, the sign-up form, ``subscribers add``) and every
place that writes it out (CSV export, MIME headers, provider payloads, CLI
output) applies the same rule.

- Header text (subject, preheader, names, addresses): no control character
  at all — C0 (line feed, carriage return, tab, NUL, ESC …), DEL, C1 (U+0080
  to U+009F, NEL U+0085 among them) and the Unicode line and paragraph
  separators U+2028/U+2029. Any of them can end a header line in some parser
  and start a forged one (``Bcc:``), so the value is refused, never cleaned.
- Other stored text (attributes from a CSV): the same, except that tab and
  line breaks are allowed, because a multi-line postal address is data.
- Spreadsheet cells: a cell that a spreadsheet would evaluate as a formula
  (OWASP "CSV injection": it starts with ``=`` ``+`` ``-`` ``@``, tab, CR or
  LF, or their full-width forms) is written with a leading ``'``. Importing
  removes exactly that one ``'`` again, so an export imports back unchanged:
  export adds the ``'`` also to a value that already starts with ``'``
  followed by such a character, which makes the two steps exact inverses.
- Terminal text: every control character is shown as a visible escape
  (``\\x1b``), so a stored name cannot move the cursor, recolour or retitle
  the officer's terminal.
"""

from __future__ import annotations

import re

from newsletter.wording import Texts, Wording

__all__ = [
    "SAFE_TEXT_TEXTS",
    "UnsafeText",
    "check_header_text",
    "header_text_fault",
    "header_text_problem",
    "spreadsheet_cell",
    "stored_text_fault",
    "stored_text_problem",
    "terminal_text",
    "unescape_spreadsheet_cell",
]

# C0, DEL, C1 (NEL U+0085 included) and the Unicode line/paragraph separators.
_HEADER_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The same, but tab, LF and CR are ordinary content in a stored attribute.
_STORED_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
# Characters a spreadsheet reads as the start of a formula (ASCII and full-width forms).
_FORMULA_START = "=+-@\t\r\n\uff1d\uff0b\uff0d\uff20"
_ESCAPED_CELL = re.compile("'*[" + re.escape(_FORMULA_START) + "]")
_ESCAPE_FOR_SPREADSHEET = re.compile("'+[" + re.escape(_FORMULA_START) + "]")
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")

SAFE_TEXT_TEXTS = Texts(
    {
        "unsafe-character": "holds {character} (U+{code:04X}) at character {position}",
        "character-line-break": "a line break",
        "character-carriage-return": "a carriage return",
        "character-tab": "a tab",
        "character-nul": "a NUL byte",
        "character-escape": "an escape character",
        "character-next-line": "a line break (NEL)",
        "character-line-separator": "a line separator",
        "character-paragraph-separator": "a paragraph separator",
        "character-control": "a control character",
    }
)
_NAMES = {
    "\n": "character-line-break",
    "\r": "character-carriage-return",
    "\t": "character-tab",
    "\x00": "character-nul",
    "\x1b": "character-escape",
    "\x85": "character-next-line",
    "\u2028": "character-line-separator",
    "\u2029": "character-paragraph-separator",
}


class UnsafeText(ValueError):
    """Text holds a character the place it is going cannot carry safely."""


def _unsafe(found: re.Match[str]) -> Wording:
    character = found.group()
    return SAFE_TEXT_TEXTS(
        "unsafe-character",
        character=SAFE_TEXT_TEXTS(_NAMES.get(character, "character-control")),
        code=ord(character),
        position=found.start() + 1,
    )


def header_text_problem(value: str) -> str | None:
    """Why ``value`` cannot go into a mail header (one phrase for a message), or None when it can."""
    problem = header_text_fault(value)
    return None if problem is None else problem.english


def header_text_fault(value: str) -> Wording | None:
    """:func:`header_text_problem` as a wording."""
    if value.isprintable():  # every character the pattern refuses is unprintable: the common case
        return None
    found = _HEADER_UNSAFE.search(value)
    return None if found is None else _unsafe(found)


def stored_text_problem(value: str) -> str | None:
    """Like :func:`header_text_problem` for text that may hold tabs and line breaks."""
    problem = stored_text_fault(value)
    return None if problem is None else problem.english


def stored_text_fault(value: str) -> Wording | None:
    """:func:`stored_text_problem` as a wording."""
    if value.isprintable():
        return None
    found = _STORED_UNSAFE.search(value)
    return None if found is None else _unsafe(found)


def check_header_text(value: str, what: str) -> str:
    """``value`` unchanged, or :class:`UnsafeText` naming ``what`` (e.g. 'Subject')."""
    problem = header_text_problem(value)
    if problem is not None:
        raise UnsafeText(f"{what} {problem}; a mail header cannot carry it — retype the value on one line")
    return value


def spreadsheet_cell(value: str) -> str:
    """``value`` as a CSV cell that no spreadsheet evaluates as a formula."""
    if _ESCAPED_CELL.match(value):
        return "'" + value
    return value


def unescape_spreadsheet_cell(value: str) -> str:
    """Undo :func:`spreadsheet_cell`: drop the one ``'`` it added, leave everything else."""
    if value.startswith("'") and _ESCAPE_FOR_SPREADSHEET.match(value):
        return value[1:]
    return value


def terminal_text(value: str) -> str:
    """``value`` with control and text-direction characters shown as escapes, for CLI output."""
    return _TERMINAL_UNSAFE.sub(lambda found: ascii(found.group())[1:-1], value)
