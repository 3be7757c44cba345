"""The whole message the settings' sample recipient would receive for a rendered issue.

``newsletter build`` writes it as ``message.eml`` and ``newsletter check``
scores it for spam: one builder, so both look at exactly what a send makes.
"""

from __future__ import annotations

from email.message import EmailMessage

from newsletter.config import Settings
from newsletter.mime import build_message
from newsletter.per_recipient import sample_recipient
from newsletter.render import Rendered, content_for


def sample_message(rendered: Rendered, settings: Settings) -> EmailMessage:
    """``rendered`` merged for ``[sample]`` with the headers a send adds, as a MIME message."""
    sample = sample_recipient(settings, rendered.slug, lang=rendered.lang)
    return build_message(content_for(rendered, settings), sample)
