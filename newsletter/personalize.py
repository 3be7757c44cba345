"""Per-recipient merge into an issue rendered once: cheap, escaping, never re-rendering.

Rendering (Jinja2 → MJML → premailer) runs once per issue and leaves
placeholders of the form ``%%nl:NAME%%`` where per-recipient values belong.
:func:`merge` fills them: HTML-escaped in the HTML part, verbatim in the text
part. It splits the content once (:class:`Compiled`, cached) and then joins
strings per recipient, so a merge costs microseconds.

Author text can never produce a placeholder: the renderer breaks any
``%%`` typed in an issue with an invisible zero-width space
(:func:`neutralise`), so it is shown as written and never merged.

Providers that merge on their side (SendGrid substitutions, Mailgun
recipient-variables) use :func:`translate` to turn the placeholders into
their own syntax, with separate keys for the HTML and the text part because
the two need differently escaped values.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

# The values every recipient gets. Templates may use only these.
PLACEHOLDERS: tuple[str, ...] = (
    "name",
    "email",
    "unsubscribe_url",
    "preferences_url",
    "web_url",
    "confirm_url",  # the double opt-in email's signed /confirm/TOKEN link (newsletter.web.confirm_mail)
)

_PATTERN = re.compile(r"%%nl:([a-z_]+)%%")
_ZERO_WIDTH_SPACE = "\u200b"


def placeholder(name: str) -> str:
    """The marker the renderer writes where value ``name`` belongs."""
    if name not in PLACEHOLDERS:
        raise KeyError(f"unknown merge value {name!r}; known: {', '.join(PLACEHOLDERS)}")
    return f"%%nl:{name}%%"


def neutralise(author_text: str) -> str:
    """Author text with every ``%%`` broken so it can never form a placeholder."""
    return author_text.replace("%%", "%" + _ZERO_WIDTH_SPACE + "%")


@dataclass(frozen=True)
class Compiled:
    """Content split at its placeholders: literal parts and the names between them."""

    parts: tuple[str, ...]
    names: tuple[str, ...]

    def render(self, values: Mapping[str, str], escape: Callable[[str], str] | None) -> str:
        out = [self.parts[0]]
        for name, literal in zip(self.names, self.parts[1:], strict=True):
            value = values.get(name, "")
            out.append(escape(value) if escape else value)
            out.append(literal)
        return "".join(out)


class UnknownPlaceholders(ValueError):
    """Content names merge placeholders that do not exist (``names``, sorted)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"content has unknown merge placeholders: {', '.join(names)}")
        self.names = tuple(names)


@lru_cache(maxsize=64)
def compile_content(content: str) -> Compiled:
    pieces = _PATTERN.split(content)
    unknown = sorted(set(pieces[1::2]) - set(PLACEHOLDERS))
    if unknown:
        raise UnknownPlaceholders(unknown)
    return Compiled(parts=tuple(pieces[0::2]), names=tuple(pieces[1::2]))


def _escape_html(value: str) -> str:
    return html.escape(value, quote=True)


def merge_html(content: str, values: Mapping[str, str]) -> str:
    """``content`` (HTML) with every placeholder replaced by its HTML-escaped value."""
    return compile_content(content).render(values, _escape_html)


def merge_text(content: str, values: Mapping[str, str]) -> str:
    """``content`` (plain text) with every placeholder replaced by its value as is."""
    return compile_content(content).render(values, None)


def merge(html_content: str, text_content: str, values: Mapping[str, str]) -> tuple[str, str]:
    """The HTML and text parts for one recipient."""
    return merge_html(html_content, values), merge_text(text_content, values)


def used_placeholders(content: str) -> set[str]:
    return set(compile_content(content).names)


@lru_cache(maxsize=64)
def translate(content: str, key_for: Callable[[str], str]) -> str:
    """Rewrite placeholders into a provider's merge syntax, e.g. ``%recipient.name_html%``.

    Cached like the split (``key_for`` a module-level function, not a fresh lambda): every
    batch of a send asks for the same translation.
    """
    compile_content(content)  # validates the placeholder names
    return _PATTERN.sub(lambda match: key_for(match.group(1)), content)


def escape_value_html(value: str) -> str:
    """How a value must be escaped for the HTML part (for provider-side merges)."""
    return _escape_html(value)
