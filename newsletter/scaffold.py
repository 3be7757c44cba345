"""A new issue file from a few fields: the front matter written (and quoted) for the author, a body to start from.

``newsletter new`` and the workspace's *New issue* page both call
:func:`create_issue`, so an issue started in either place is the same file:
``issues/YYYY-MM-DD-<slug>.md`` where the slug comes from the subject with
Danish letters written out (:func:`newsletter.slugs.slugify`). The front
matter is written by a YAML dumper, never by pasting text into a template,
so a subject such as ``Nyt: 50 % rabat # på 'alt'`` comes back exactly as
typed. An existing file (or a link of that name) is never overwritten.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

import yaml

from newsletter.config import LANGUAGES, Settings
from newsletter.errors import IssueError
from newsletter.render import available_templates, no_such_template
from newsletter.safe_text import header_text_problem
from newsletter.slugs import slugify

# One body per built-in design and language; a team's own design starts from the newsletter's.
_NEWSLETTER_BODY = {
    "da": """
Skriv indledningen her: et par linjer om, hvad nummeret handler om.

## Første afsnit

Et afsnit med *fremhævet* tekst og et [link](https://example.org/).

- et punkt
- et punkt mere

::: button
[Læs mere](https://example.org/)
:::

::: signature
Med venlig hilsen
{sender}
:::
""",
    "en": """
Write the introduction here: a few lines on what this issue is about.

## First section

A paragraph with *emphasis* and a [link](https://example.org/).

- a point
- another point

::: button
[Read more](https://example.org/)
:::

::: signature
Kind regards
{sender}
:::
""",
}
_HOLIDAY_BODY = {
    "da": """
Skriv hilsenens indledning her: et par linjer om året, der er gået.

## Første afsnit

Fortæl om det, der skete i året.

::: greeting
Vi ønsker alle en glædelig jul og et godt nytår!
:::

::: signature
Mange hilsner
{sender}
:::
""",
    "en": """
Write the greeting's introduction here: a few lines on the year that has passed.

## First section

Tell what happened during the year.

::: greeting
We wish you all a merry Christmas and a happy new year!
:::

::: signature
Best wishes
{sender}
:::
""",
}
BODIES = {"newsletter": _NEWSLETTER_BODY, "holiday": _HOLIDAY_BODY}
# The skeleton's text that is there only to be replaced: `newsletter check` calls an issue that
# still holds any of it unfinished (an error), so a skeleton is never sent as it is.
UNFINISHED_TEXT = (
    "Skriv indledningen her",
    "Skriv hilsenens indledning her",
    "Et afsnit med *fremhævet* tekst og et [link](https://example.org/)",
    "Fortæl om det, der skete i året.",
    "[Læs mere](https://example.org/)",
    "Write the introduction here",
    "Write the greeting's introduction here",
    "A paragraph with *emphasis* and a [link](https://example.org/)",
    "Tell what happened during the year.",
    "[Read more](https://example.org/)",
)


class NewIssueProblem(ValueError):
    """A field of a new issue cannot be used: ``field`` names it, ``reason`` says why (for translations)."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


class IssueExists(IssueError):
    """The issue file (or a link of its name) is there already; ``slug`` names it."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "already exists — edit it, or pick another title or date")
        self.slug = path.stem


@dataclass(frozen=True)
class NewIssue:
    subject: str
    date: datetime.date
    template: str
    lang: str
    preheader: str = ""
    kicker: str = ""

    @property
    def slug(self) -> str:
        """``YYYY-MM-DD-<subject as slug>``: the file name without ``.md``, and the issue's web address."""
        return f"{self.date.isoformat()}-{slugify(self.subject)}"


def check_new_issue(new: NewIssue, settings: Settings) -> None:
    """Raise :class:`NewIssueProblem` for the first field that cannot be used."""
    if not new.subject.strip():
        raise NewIssueProblem("subject", "missing", "the subject is empty — write the email's subject")
    for name in ("subject", "preheader", "kicker"):
        problem = header_text_problem(getattr(new, name))
        if problem is not None:
            raise NewIssueProblem(name, "not_one_line", f"the {name} {problem} — write it as one line")
    if not slugify(new.subject):
        raise NewIssueProblem(
            "subject",
            "no_slug",
            "the subject has no letters or digits to make a file name from — add a word",
        )
    if new.template not in available_templates(settings):
        raise NewIssueProblem("template", "unknown", no_such_template(new.template, settings))
    if new.lang not in LANGUAGES:
        raise NewIssueProblem(
            "lang",
            "unknown",
            f"'{new.lang}' is not a language of the issues — use one of: {', '.join(LANGUAGES)}",
        )


def issue_text(new: NewIssue, settings: Settings) -> str:
    """The whole file: front matter from the fields, then a body to start from in the issue's language."""
    front = yaml.safe_dump(
        {
            "subject": new.subject.strip(),
            "preheader": new.preheader.strip(),
            "kicker": new.kicker.strip(),
            "date": new.date.isoformat(),
            "template": new.template,
            "lang": new.lang,
        },
        allow_unicode=True,
        sort_keys=False,
        width=1_000_000,  # one line per field, however long: each is one header line
    )
    body = BODIES.get(new.template, _NEWSLETTER_BODY)[new.lang]
    return f"---\n{front}---\n{body.format(sender=settings.sender.name)}"


def create_issue(new: NewIssue, settings: Settings) -> Path:
    """Write ``issues/<slug>.md`` for ``new``; :class:`IssueExists` when it is there, never overwriting."""
    check_new_issue(new, settings)
    path = settings.issues_dir / f"{new.slug}.md"
    content = issue_text(new, settings)
    settings.issues_dir.mkdir(parents=True, exist_ok=True)
    try:
        # "x" is O_EXCL: it neither replaces a file nor writes through a link of the same name.
        with path.open("x", encoding="utf-8") as handle:
            handle.write(content)
    except FileExistsError:
        raise IssueExists(path) from None
    return path
