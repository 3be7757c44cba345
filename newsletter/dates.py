"""Language-dependent wording: Babel dates and the fixed strings of the templates.

Templates and the plain-text part take every fixed string from
:data:`STRINGS` (``t.unsubscribe`` in a template), so an issue with
``lang: en`` reads English throughout. Dates are written the way each
language writes them: "20. december 2019", "20 December 2019".
"""

from __future__ import annotations

import datetime

from babel.dates import format_date

# The languages an issue, a list or a subscriber can have, and Babel's locale for each.
LANGUAGES = ("da", "en")
_LOCALES = {"da": "da_DK", "en": "en_GB"}

STRINGS: dict[str, dict[str, str]] = {
    "da": {
        "unsubscribe": "Afmeld nyhedsbrevet",
        "web_version": "Se nyhedsbrevet i din browser",
        "preferences": "Skift dine indstillinger",
        "why": "Du får denne e-mail, fordi du har tilmeldt dig nyhedsbrevet fra {organisation}.",
        "salutation": "Kære {name},",
        "name_fallback": "læser",
        "read_more": "Læs mere",
    },
    "en": {
        "unsubscribe": "Unsubscribe from this newsletter",
        "web_version": "View this newsletter in your browser",
        "preferences": "Change your preferences",
        "why": "You receive this email because you subscribed to the newsletter from {organisation}.",
        "salutation": "Dear {name},",
        "name_fallback": "reader",
        "read_more": "Read more",
    },
}


def strings_for(lang: str) -> dict[str, str]:
    """The fixed strings for ``lang`` (``da`` or ``en``)."""
    return STRINGS[lang]


def long_date(day: datetime.date, lang: str) -> str:
    """``day`` written out in ``lang``: "20. december 2019" / "20 December 2019"."""
    return format_date(day, format="long", locale=_LOCALES[lang])
