"""The personal links in every email and page: one builder, so every copy is bound the same way.

Send, build, preview, the confirmation email and the web pages all make their
unsubscribe, preference and confirmation links (and the web-version link) here; the tokens inside carry
the person's id and link key (see :mod:`newsletter.tokens`), so a link acts
only on the person it was made for.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.tokens import LinkOwner, Signer


@dataclass(frozen=True)
class PersonLinks:
    unsubscribe_url: str
    preferences_url: str


def unsubscribe_path(signer: Signer, owner: LinkOwner, list_id: int | None, issue: str | None) -> str:
    return f"/u/{signer.unsubscribe_token(owner, list_id, issue)}"


def preferences_path(signer: Signer, owner: LinkOwner) -> str:
    return f"/preferences/{signer.preferences_token(owner)}"


def confirm_path(signer: Signer, owner: LinkOwner, list_id: int) -> str:
    return f"/confirm/{signer.confirm_token(owner, list_id)}"


def person_links(
    settings: Settings, signer: Signer, owner: LinkOwner, list_id: int | None, issue: str | None
) -> PersonLinks:
    """The absolute unsubscribe and preference URLs for ``owner`` in issue ``issue`` of ``list_id``."""
    return PersonLinks(
        unsubscribe_url=settings.url(unsubscribe_path(signer, owner, list_id, issue)),
        preferences_url=settings.url(preferences_path(signer, owner)),
    )


def issue_url(settings: Settings, slug: str) -> str:
    """The issue's web version in the public archive (not personal: the same for everyone)."""
    return settings.url(f"issues/{slug}")


def confirm_url(settings: Settings, signer: Signer, owner: LinkOwner, list_id: int) -> str:
    return settings.url(confirm_path(signer, owner, list_id))
