"""Click tracking (``[tracking] clicks = true``, off by default): an issue's links through ``/c/TOKEN``.

:func:`track_links` rewrites every ``<a href="http(s)://…">`` of an issue's HTML, once per issue
when it is prepared for sending, to ``BASE_URL/c/TOKEN``. The token is signed
(:meth:`newsletter.tokens.Signer.link_token`) and holds only the issue and the destination: it
is the same in every copy of the issue, so the send's fast path is untouched (the HTML stays one
pre-encoded body merged per recipient exactly as before) and a click tells how often a link was
followed, never by whom. ``newsletter serve`` redirects a token only to the destination it signs,
and only when the issue as sent carries that very link (:mod:`newsletter.web.clicks`).

Left as they are: links to the project's own site (unsubscribe, preferences, the web version —
each already personal, and a redirect would break one-click unsubscribe), ``mailto:`` and
other schemes, the per-recipient placeholders, and the plain-text part (whoever reads text
mail is not tracked). docs/privacy.md says what this means for readers and what consent it needs.
"""

from __future__ import annotations

import dataclasses
import html
import re

from newsletter.config import Settings
from newsletter.message import Content
from newsletter.tokens import Signer

CLICK_PATH = "/c/"
# An href of an <a> tag, quoted either way (MJML and premailer write double quotes).
_ANCHOR_HREF = re.compile(r"""(<a\b[^>]*?\bhref\s*=\s*)(["'])(https?://[^"'\s>]+)\2""", re.IGNORECASE)


def click_url(settings: Settings, signer: Signer, issue: str, url: str) -> str:
    return settings.url(CLICK_PATH + signer.link_token(issue, url))


def track_links(html_text: str, issue: str, settings: Settings, signer: Signer) -> str:
    """``html_text`` with its outside links going through ``/c/TOKEN``; the same for every reader."""
    own_site = settings.base_url.rstrip("/") + "/"

    def rewrite(match: re.Match[str]) -> str:
        prefix, quote, written = match.groups()
        url = html.unescape(written)  # the attribute holds &amp; where the URL has &
        if url.startswith(own_site) or "%%" in url:
            return match.group(0)
        return f"{prefix}{quote}{html.escape(click_url(settings, signer, issue, url))}{quote}"

    return _ANCHOR_HREF.sub(rewrite, html_text)


def tracked(content: Content, settings: Settings, signer: Signer | None = None) -> Content:
    """``content`` with click tracking applied when ``[tracking] clicks`` is on; else unchanged."""
    if not settings.tracking.clicks or not content.issue:
        return content
    return dataclasses.replace(
        content, html=track_links(content.html, content.issue, settings, signer or Signer())
    )
