"""The one builder of each per-recipient piece, so build, preview, checks, send, the archive and
the confirmation email cannot drift apart:

- :func:`merge_values`: the values merged into the placeholders
  (:data:`newsletter.personalize.PLACEHOLDERS`).
- :func:`list_unsubscribe_headers`: the RFC 2369 / RFC 8058 pair.
- :func:`sample_recipient`: the recipient build, preview, checks, screenshots
  and ``send --test`` personalise for: links signed for nobody
  (:data:`newsletter.tokens.SAMPLE_OWNER` on :data:`SAMPLE_LIST_ID`).

Nothing here talks to a network, a database or a renderer.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.dates import strings_for
from newsletter.errors import ConfigError
from newsletter.links import PersonLinks, issue_url, person_links
from newsletter.message import Recipient
from newsletter.tokens import SAMPLE_OWNER, LinkOwner, Signer


def merge_values(
    settings: Settings,
    *,
    email: str,
    name: str | None,
    lang: str | None,
    links: PersonLinks | None = None,
    issue: str = "",
    confirm_url: str = "",
) -> dict[str, str]:
    """The merge values for one recipient (raw; :mod:`newsletter.personalize` escapes them for HTML).

    ``links`` are the person's unsubscribe and preference links (none in a
    confirmation email: the person is not subscribed yet); ``issue`` gives the
    web-version link. A recipient without a name gets the language's fallback
    word ("læser" / "reader"), so a salutation reads "Kære læser," rather than "Kære ,".
    """
    values = {
        "name": (name or "").strip() or strings_for(lang or settings.language)["name_fallback"],
        "email": email,
        "unsubscribe_url": links.unsubscribe_url if links else "",
        "preferences_url": links.preferences_url if links else "",
        "web_url": issue_url(settings, issue) if issue else "",
    }
    if confirm_url:
        values["confirm_url"] = confirm_url
    return values


def list_unsubscribe_headers(settings: Settings, unsubscribe_url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers: one-click HTTPS unsubscribe plus a mailto fallback.

    The mailbox is ``[sender] unsubscribe_mailto``, or the sender's own address when unset.
    """
    mailbox = settings.sender.unsubscribe_mailto or settings.sender.email
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:{mailbox}?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# The list of every sample link: an id beyond any real list's. With SAMPLE_OWNER's key a sample
# link acts on nobody, not even on a subscriber previewed with --as (their name, never their links).
SAMPLE_LIST_ID = 999_999


@dataclass(frozen=True)
class SamplePerson:
    """Whom a sample is personalised for: the settings' ``[sample]``, a ``--test`` address or ``--as``."""

    email: str
    name: str
    # A real subscriber previewed with --as keeps their id; the key is never theirs.
    owner: LinkOwner = SAMPLE_OWNER


def default_sample(settings: Settings) -> SamplePerson:
    return SamplePerson(email=settings.sample.email, name=settings.sample.name)


# Without the real secret, sample links are signed with this public stand-in: the same length as
# a subscriber's (so size checks stay honest), and accepted by no server.
_STAND_IN_KEY = "newsletter-preview-stand-in-not-a-secret"


def sample_signer() -> Signer:
    """The real signer when ``NEWSLETTER_SECRET_KEY`` is set, else the public stand-in (build needs no secret)."""
    try:
        return Signer()
    except ConfigError:
        return Signer(_STAND_IN_KEY)


def sample_recipient(
    settings: Settings,
    issue: str,
    *,
    lang: str | None,
    person: SamplePerson | None = None,
    signer: Signer | None = None,
) -> Recipient:
    """``person`` (default: the settings' ``[sample]``) as a recipient of ``issue``: values and headers.

    Its links are real-looking and act on nobody, whatever key signs them.
    """
    person = person or default_sample(settings)
    links = person_links(settings, signer or sample_signer(), person.owner, SAMPLE_LIST_ID, issue or None)
    return Recipient(
        email=person.email,
        name=person.name,
        values=merge_values(
            settings, email=person.email, name=person.name, lang=lang, links=links, issue=issue
        ),
        headers=list_unsubscribe_headers(settings, links.unsubscribe_url),
    )
