"""Who the preview, the checks and the screenshots personalise an issue for.

The settings' ``[sample]`` recipient by default, or a real subscriber from the
store (``newsletter preview --as EMAIL``). The unsubscribe and preference
links are signed like real ones when ``NEWSLETTER_SECRET_KEY`` is set, so the
merged HTML has the size a subscriber's copy has (Gmail's clipping limit is
measured on it); without a key they carry a same-length stand-in token.
"""

from __future__ import annotations

from dataclasses import dataclass

from newsletter.config import Settings
from newsletter.errors import ConfigError, NotFound
from newsletter.tokens import Signer

# A list id beyond any real one: a link clicked in a preview can never unsubscribe anybody.
_SAMPLE_SUBSCRIBER_ID = 999_999_999
_SAMPLE_LIST_ID = 999_999


@dataclass(frozen=True)
class SampleRecipient:
    email: str
    name: str
    subscriber_id: int = _SAMPLE_SUBSCRIBER_ID
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
    return SampleRecipient(email=row.email, name=row.name or "", subscriber_id=row.id)


def _tokens(recipient: SampleRecipient, slug: str) -> tuple[str, str]:
    try:
        signer = Signer()
    except ConfigError:
        # Same length as a real token, so size checks stay honest.
        return "sample-unsubscribe-token-" + "x" * 24, "sample-preferences-token-" + "x" * 8
    return (
        signer.unsubscribe_token(recipient.subscriber_id, recipient.list_id, slug),
        signer.preferences_token(recipient.subscriber_id),
    )


def sample_values(
    settings: Settings, slug: str, recipient: SampleRecipient | None = None, *, lang: str | None = None
) -> dict[str, str]:
    """The merge values ``recipient`` (default: the settings' sample) gets for issue ``slug``."""
    person = recipient or default_recipient(settings)
    unsubscribe, preferences = _tokens(person, slug)
    urls = {
        "unsubscribe_url": settings.url(f"/u/{unsubscribe}"),
        "preferences_url": settings.url(f"/preferences/{preferences}"),
        "web_url": settings.url(f"/issues/{slug}"),
    }
    try:
        from newsletter.render import recipient_values
    except ImportError:  # the renderer is not installed: plain values
        return {"email": person.email, "name": person.name, **urls}
    return dict(recipient_values(settings, email=person.email, name=person.name, lang=lang, **urls))
