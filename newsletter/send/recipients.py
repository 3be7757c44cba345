"""Each recipient of a send: merge values, headers and correlation metadata — cheap, per ledger row.

The issue is rendered once; per recipient only these few strings are built,
by the message model's builders (:func:`newsletter.per_recipient.merge_values`,
:func:`newsletter.per_recipient.list_unsubscribe_headers`): signed unsubscribe and
preference links, the web-version URL, RFC 8058 one-click headers — plus the
metadata (issue, subscriber, delivery row) that webhook events carry back to
the ledger. ``List-Id`` and ``Feedback-ID``
(:func:`newsletter.per_recipient.list_headers`) are the same for everyone: built once.
"""

from __future__ import annotations

from collections.abc import Mapping

from newsletter.config import Settings
from newsletter.links import person_links
from newsletter.message import Recipient
from newsletter.per_recipient import list_headers, list_unsubscribe_headers, merge_values
from newsletter.send.ledger import ClaimedRow
from newsletter.tokens import LinkOwner, Signer


class RecipientBuilder:
    """Builds :class:`Recipient` s for one issue sent to one list."""

    def __init__(
        self,
        settings: Settings,
        *,
        issue: str,
        list_id: int | None,
        list_name: str,
        list_title: str = "",
        lang: str | None = None,
        signer: Signer | None = None,
        frozen_headers: Mapping[str, str] | None = None,
    ):
        self.settings = settings
        self.issue = issue
        self.list_id = list_id
        self.lang = lang or settings.language
        self.signer = signer or Signer()
        # A planned send's List-Id and Feedback-ID come from its snapshot, as they were when planned.
        self.list_headers = (
            dict(frozen_headers)
            if frozen_headers is not None
            else list_headers(settings, campaign=issue, list_name=list_name, list_title=list_title)
        )

    def for_row(self, row: ClaimedRow) -> Recipient:
        owner = LinkOwner(row.subscriber_id, row.link_key)
        links = person_links(self.settings, self.signer, owner, self.list_id, self.issue)
        return Recipient(
            email=row.email,
            name=row.name,
            values=merge_values(
                self.settings, email=row.email, name=row.name, lang=self.lang, links=links, issue=self.issue
            ),
            headers={**list_unsubscribe_headers(self.settings, links.unsubscribe_url), **self.list_headers},
            metadata={
                "nl_issue": self.issue,
                "nl_subscriber": str(row.subscriber_id),
                "nl_delivery": str(row.delivery_id),
            },
        )
