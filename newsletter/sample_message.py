"""What the settings' sample recipient would receive for a rendered issue.

``newsletter build`` writes the parts as ``email.html``/``email.txt`` and the
whole message as ``message.eml``; ``newsletter check`` scores that message for
spam: one builder, so they all show exactly what a send makes (the merge
placeholders stay an internal detail of the send).
"""

from __future__ import annotations

from newsletter.config import Settings
from newsletter.mime import build_message
from newsletter.per_recipient import sample_recipient
from newsletter.personalize import merge
from newsletter.render import Rendered, content_for


def sample_message(rendered: Rendered, settings: Settings) -> bytes:
    """``rendered`` merged for ``[sample]`` with the headers a send adds, as a MIME message."""
    sample = sample_recipient(settings, rendered.slug, lang=rendered.lang)
    return build_message(content_for(rendered, settings), sample).data


def sample_parts(rendered: Rendered, settings: Settings) -> tuple[str, str]:
    """The HTML and text parts of ``rendered`` merged for ``[sample]``: links that work in a browser."""
    sample = sample_recipient(settings, rendered.slug, lang=rendered.lang)
    return merge(rendered.html, rendered.text, sample.values)
