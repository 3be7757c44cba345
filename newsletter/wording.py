"""A message for the user as a reason code and its values, worded in English by one table.

A check finding, an invalid issue file or a rejected import row tells the
user what went wrong and what to do. The library says it once, as a
:class:`Wording`: a stable ``code`` (``subject-too-long``), the values that
fill its sentence (``length=92``) and the English sentence, taken from its
module's table of texts (:class:`Texts`). The CLI prints that sentence as it
always has; the workspace words the same code in the user's language from
its own table keyed by the same codes
(:mod:`newsletter.web.admin.library_words`), so the English and the Danish
come from one place each and cannot disagree on what a message is about.

A value may itself be a wording (a phrase such as "is a symbolic link to
…"), worded the same way: a sentence made of a fixed start and one of several
endings needs one text for each part, not one for each combination.

Texts are :meth:`str.format` templates; ``{href!r}`` and ``{size:.1f}`` work
as in an f-string. A code is unique across every table (a test checks it),
so one translation serves it wherever it is made.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Wording:
    """What a message says: its ``code``, its values and its English ``template``."""

    code: str
    template: str = field(repr=False)
    params: Mapping[str, str | int | float | Wording] = field(default_factory=dict, hash=False)

    @property
    def english(self) -> str:
        return fill(self.template, self.params, lambda phrase: phrase.english)

    def __str__(self) -> str:
        return self.english


class Texts(Mapping[str, str]):
    """One module's English sentences by code; calling it makes a :class:`Wording` (KeyError on a typo)."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = dict(texts)

    def __call__(self, code: str, /, **params: str | int | float | Wording) -> Wording:
        return Wording(code, self._texts[code], params)

    def __getitem__(self, code: str) -> str:
        return self._texts[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)


def fill(
    template: str,
    params: Mapping[str, str | int | float | Wording],
    phrase: Callable[[Wording], str],
    formatter: string.Formatter | None = None,
) -> str:
    """``template`` with ``params``; a value that is a wording becomes ``phrase(value)`` first."""
    values = {name: phrase(value) if isinstance(value, Wording) else value for name, value in params.items()}
    return (formatter or _PLAIN).vformat(template, (), values)


def placeholders(template: str) -> set[str]:
    """The names ``template`` fills in."""
    return {name for _text, name, _spec, _conversion in string.Formatter().parse(template) if name}


_PLAIN = string.Formatter()
