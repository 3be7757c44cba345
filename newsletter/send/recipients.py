"""Each recipient's merge values, headers and correlation metadata — cheap, per ledger row.

The issue is rendered once; per recipient only these few strings are built:
signed unsubscribe and preference links, the web-version URL, RFC 8058
one-click headers and the metadata (issue, subscriber, delivery row) that
webhook events carry back to the ledger.
"""

from __future__ import annotations

from collections.abc import Mapping

from newsletter.config import Settings
from newsletter.links import person_links
from newsletter.message import Recipient
from newsletter.render import recipient_values
from newsletter.send.ledger import ClaimedRow
from newsletter.tokens import SAMPLE_OWNER, LinkOwner, Signer


def list_unsubscribe_headers(settings: Settings, unsubscribe_url: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058 headers: one-click HTTPS unsubscribe plus a mailto fallback."""
    mailbox = settings.sender.unsubscribe_mailto or settings.sender.email
    return {
        "List-Unsubscribe": f"<{unsubscribe_url}>, <mailto:{mailbox}?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


class RecipientBuilder:
    """Builds :class:`Recipient` s for one issue sent to one list."""

    def __init__(
        self,
        settings: Settings,
        *,
        issue: str,
        list_id: int | None,
        lang: str | None = None,
        signer: Signer | None = None,
    ):
        self.settings = settings
        self.issue = issue
        self.list_id = list_id
        self.lang = lang or settings.language
        self.signer = signer or Signer()
        self.web_url = settings.url(f"issues/{issue}")

    def values(self, *, owner: LinkOwner, email: str, name: str | None) -> tuple[dict[str, str], str]:
        """The merge values and the unsubscribe URL for one subscriber."""
        links = person_links(self.settings, self.signer, owner, self.list_id, self.issue)
        # The same values build, preview and the archive use: one fallback for a missing name.
        values = recipient_values(
            self.settings,
            email=email,
            name=name,
            unsubscribe_url=links.unsubscribe_url,
            preferences_url=links.preferences_url,
            web_url=self.web_url,
            lang=self.lang,
        )
        return values, links.unsubscribe_url

    def headers(self, unsubscribe_url: str) -> Mapping[str, str]:
        return list_unsubscribe_headers(self.settings, unsubscribe_url)

    def for_row(self, row: ClaimedRow) -> Recipient:
        owner = LinkOwner(row.subscriber_id, row.link_key)
        values, unsubscribe_url = self.values(owner=owner, email=row.email, name=row.name)
        return Recipient(
            email=row.email,
            name=row.name,
            values=values,
            headers=self.headers(unsubscribe_url),
            metadata={
                "nl_issue": self.issue,
                "nl_subscriber": str(row.subscriber_id),
                "nl_delivery": str(row.delivery_id),
            },
        )

    def for_test(self, email: str, *, subscriber_id: int = 0, name: str | None = None) -> Recipient:
        """A ``--test`` recipient: real-looking links that act on nobody, no ledger row behind it."""
        owner = LinkOwner(subscriber_id, SAMPLE_OWNER.link_key)
        values, unsubscribe_url = self.values(owner=owner, email=email, name=name)
        return Recipient(
            email=email,
            name=name,
            values=values,
            headers=self.headers(unsubscribe_url),
            metadata={"nl_issue": self.issue, "nl_test": "1"},
        )
