"""The one builder of each per-recipient piece, so build, preview, checks, send, the archive and
the confirmation email cannot drift apart:

- :func:`merge_values`: the values merged into the placeholders
  (:data:`newsletter.personalize.PLACEHOLDERS`).
- :func:`list_unsubscribe_headers`: the RFC 2369 / RFC 8058 pair.
- :func:`list_headers`: ``List-Id`` (RFC 2919) and Gmail's ``Feedback-ID``, the same
  for every recipient of a send (:func:`list_id`, :func:`feedback_id`).
- :func:`sample_recipient`: the recipient build, preview, checks, screenshots
  and ``send --test`` personalise for: links signed for nobody
  (:data:`newsletter.tokens.SAMPLE_OWNER` on :data:`SAMPLE_LIST_ID`).

Nothing here talks to a network, a database or a renderer.
"""

from __future__ import annotations

import email.utils
import ipaddress
import re
from dataclasses import dataclass
from email.header import Header
from urllib.parse import urlsplit

from newsletter.config import Settings
from newsletter.dates import strings_for
from newsletter.errors import ConfigError
from newsletter.links import PersonLinks, issue_url, person_links
from newsletter.message import Recipient
from newsletter.slugs import slugify
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


# RFC 2919 §2: a list identifier is at most 255 octets.
MAX_LIST_ID_LENGTH = 255
# RFC 2919 §3: the namespace of a list that no domain name stands for.
UNMANAGED_NAMESPACE = "localhost"
# RFC 2047 §2: the longest encoded-word.
MAX_ENCODED_WORD = 75
# RFC 5322 atext: what each dot-separated part of a list identifier may hold.
_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+")
# The campaign part of a confirmation email's Feedback-ID (issue slugs start with a date).
CONFIRM_CAMPAIGN = "confirm"


def list_namespace(settings: Settings) -> str:
    """The host of ``[site] base_url``, in ASCII (an IDN in Punycode): the domain the lists live under.

    A host that is an IP address, or cannot be written as a dot-atom, gives RFC 2919's
    ``localhost`` (an unmanaged namespace) rather than an identifier no mail filter can read.
    """
    host = (urlsplit(settings.base_url).hostname or "").strip(".")
    try:
        ipaddress.ip_address(host)
        return UNMANAGED_NAMESPACE
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        return UNMANAGED_NAMESPACE
    labels = ascii_host.split(".")
    if not ascii_host or len(ascii_host) > MAX_LIST_ID_LENGTH - 2 or not all(map(_ATOM.fullmatch, labels)):
        return UNMANAGED_NAMESPACE
    return ascii_host


def list_label(list_name: str) -> str:
    """The list's name as the first part of its identifier: lower-case letters, digits and ``-``
    (``Ærø Nyt!`` → ``aeroe-nyt``), ``list`` when nothing usable is left."""
    return slugify(list_name) or "list"


def list_id(settings: Settings, list_name: str, list_title: str = "") -> str:
    """``List-Id`` (RFC 2919): ``Title <label.namespace>``, e.g. ``Erhvervsnyt <erhverv.nyhedsbrev.example.org>``.

    The value is printable ASCII, whatever the title: a title with æ, ø or å is written as
    RFC 2047 encoded-words (``=?utf-8?q?…?=``), a title with specials is quoted. Every path carries
    this one value — the MIME layer reads it back, and an API that takes JSON headers (SES takes
    ASCII only) passes it on as it is. Without a title the phrase, which RFC 2919 makes optional,
    is left out.
    """
    namespace = list_namespace(settings)
    label = list_label(list_name)[: MAX_LIST_ID_LENGTH - len(namespace) - 1].rstrip("-")
    identifier = f"{label}.{namespace}"
    title = " ".join(list_title.split())
    if not title:
        return f"<{identifier}>"
    if title.isascii():
        return email.utils.formataddr((title, identifier))  # quoted when it has specials: "Nyt, fra Kbh."
    # RFC 2047 §2: an encoded-word is at most 75 characters, so a long title becomes several,
    # separated by a space (not a line break: a header value is one line until the MIME layer folds it).
    words = Header(title, "utf-8").encode(maxlinelen=MAX_ENCODED_WORD).split()
    return f"{' '.join(words)} <{identifier}>"


def feedback_id(settings: Settings, campaign: str, list_name: str) -> str:
    """Gmail's ``Feedback-ID``: ``campaign:list:sender``, e.g. ``2019-12-20-tak:erhverv:example-org``.

    Gmail reports spam complaints per identifier (up to four, the sender's last), so it must be
    the same for every message of a campaign and never name a recipient. Each part is a slug —
    ASCII, no colon, at most 60 characters; the sender is the domain of ``[sender] email``.
    """
    sender = settings.sender.email.rpartition("@")[2]
    return ":".join(slugify(part) or "none" for part in (campaign, list_name, sender))


def list_headers(
    settings: Settings, *, campaign: str, list_name: str, list_title: str = ""
) -> dict[str, str]:
    """``List-Id`` and ``Feedback-ID`` of a send of ``campaign`` (the issue's slug) to a list.

    Identical for every recipient of the send: built once per send, carried in each
    recipient's headers beside :func:`list_unsubscribe_headers`.
    """
    return {
        "List-Id": list_id(settings, list_name, list_title),
        "Feedback-ID": feedback_id(settings, campaign, list_name),
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
    list_name: str | None = None,
) -> Recipient:
    """``person`` (default: the settings' ``[sample]``) as a recipient of ``issue``: values and headers.

    Its links are real-looking and act on nobody, whatever key signs them. Its ``List-Id``
    names ``list_name`` (default ``[defaults] list``) without the list's title: build, preview
    and checks read no database, so only a real send knows the title.
    """
    person = person or default_sample(settings)
    links = person_links(settings, signer or sample_signer(), person.owner, SAMPLE_LIST_ID, issue or None)
    return Recipient(
        email=person.email,
        name=person.name,
        values=merge_values(
            settings, email=person.email, name=person.name, lang=lang, links=links, issue=issue
        ),
        headers={
            **list_unsubscribe_headers(settings, links.unsubscribe_url),
            **list_headers(settings, campaign=issue, list_name=list_name or settings.default_list),
        },
    )
