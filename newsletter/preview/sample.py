"""``newsletter preview --as EMAIL``: a real subscriber from the store as the sample person.

The preview, the checks and the screenshots personalise an issue for a
:class:`~newsletter.message.SamplePerson`: the settings' ``[sample]`` by
default, or this one. The subscriber lends their address, name and id, never
their link key, so a link clicked in a preview acts on nobody (see
:func:`newsletter.message.sample_recipient`).
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.errors import NotFound
from newsletter.per_recipient import SamplePerson
from newsletter.store import db
from newsletter.store.subscribers import get_subscriber
from newsletter.tokens import SAMPLE_OWNER, LinkOwner


def recipient_from_store(settings: Settings, email: str) -> SamplePerson:
    """The subscriber with ``email`` in the configured database (NotFound if absent)."""
    engine = db.open_engine(settings.database_url)
    with engine.connect() as connection:
        row = get_subscriber(connection, email)
    if row is None:
        raise NotFound(
            f"--as {email}: no such subscriber in {db.safe_url(settings.database_url)} — "
            "check the address, or leave out --as to use [sample] from the settings"
        )
    return SamplePerson(email=row.email, name=row.name or "", owner=LinkOwner(row.id, SAMPLE_OWNER.link_key))
