"""Slugs for file names and URLs, with Danish letters transliterated the Danish way.

"Godt nytår 2020" → ``godt-nytaar-2020``: æ → ae, ø → oe, å → aa (as Danes
write them without the letters), other accented letters lose their accent.
"""

from __future__ import annotations

import re
import unicodedata

_DANISH = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa", "ß": "ss"})
_NOT_SLUG = re.compile(r"[^a-z0-9]+")
MAX_SLUG_LENGTH = 60


def slugify(title: str) -> str:
    """A lower-case ASCII slug of ``title``; empty when nothing usable is left."""
    ascii_text = (
        unicodedata.normalize("NFKD", title.translate(_DANISH)).encode("ascii", "ignore").decode("ascii")
    )
    slug = _NOT_SLUG.sub("-", ascii_text.lower()).strip("-")
    if len(slug) > MAX_SLUG_LENGTH:
        slug = slug[:MAX_SLUG_LENGTH].rsplit("-", 1)[0] or slug[:MAX_SLUG_LENGTH]
    return slug
