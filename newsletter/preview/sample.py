"""Who the preview, the checks and the screenshots personalise an issue for.

The settings' ``[sample]`` recipient by default, or a real subscriber from the
store (``newsletter preview --as EMAIL``). The unsubscribe and preference
links are signed like real ones when ``NEWSLETTER_SECRET_KEY`` is set, so the
merged HTML has the size a subscriber's copy has (Gmail's clipping limit is
measured on it); without a key they are signed with a public stand-in key,
the same length and valid nowhere.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.errors import ConfigError, NotFound
from newsletter.links import person_links
from newsletter.tokens import SAMPLE_OWNER, LinkOwner, Signer

# A list id beyond any real one; with SAMPLE_OWNER's key a link clicked in a preview acts on nobody,
# not even on the subscriber previewed with --as (their name, never their working links).
_SAMPLE_LIST_ID = 999_999


@dataclass(frozen=True)
class SampleRecipient:
    email: str
    name: str
    owner: LinkOwner = SAMPLE_OWNER
    list_id: int | None = _SAMPLE_LIST_ID


def default_recipient(settings: Settings) -> SampleRecipient:
    return SampleRecipient(email=settings.sample.email, name=settings.sample.name)


def recipient_from_store(settings: Settings, email: str) -> SampleRecipient:
    """The subscriber with ``email`` in the configured database (NotFound if absent)."""
    from newsletter.store import db
    from newsletter.store.subscribers import get_subscriber

    engine = db.open_engine(settings.database_url)
    with engine.connect() as connection:
        row = get_subscriber(connection, email)
    if row is None:
        raise NotFound(
            f"--as {email}: no such subscriber in {db.safe_url(settings.database_url)} — "
            "check the address, or leave out --as to use [sample] from the settings"
        )
    return SampleRecipient(
        email=row.email, name=row.name or "", owner=LinkOwner(row.id, SAMPLE_OWNER.link_key)
    )


# Without the real secret, links are signed with this public stand-in: the same length as a
# subscriber's (so size checks stay honest), and accepted by no server.
_STAND_IN_KEY = "newsletter-preview-stand-in-not-a-secret"


def _signer() -> Signer:
    try:
        return Signer()
    except ConfigError:
        return Signer(_STAND_IN_KEY)


def sample_values(
    settings: Settings, slug: str, recipient: SampleRecipient | None = None, *, lang: str | None = None
) -> dict[str, str]:
    """The merge values ``recipient`` (default: the settings' sample) gets for issue ``slug``."""
    person = recipient or default_recipient(settings)
    links = person_links(settings, _signer(), person.owner, person.list_id, slug)
    urls = {
        "unsubscribe_url": links.unsubscribe_url,
        "preferences_url": links.preferences_url,
        "web_url": settings.url(f"/issues/{slug}"),
    }
    try:
        from newsletter.render import recipient_values
    except ImportError:  # the renderer is not installed: plain values
        return {"email": person.email, "name": person.name, **urls}
    return dict(recipient_values(settings, email=person.email, name=person.name, lang=lang, **urls))
