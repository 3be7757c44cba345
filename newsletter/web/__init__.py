"""The web service subscribers and providers talk to (Starlette, run by ``newsletter serve``).

Routes by concern: :mod:`.pages` (sign-up and confirmation), :mod:`.unsubscribe`
(unsubscribe, one-click, preferences), :mod:`.webhooks` (one module per
provider), :mod:`.archive` (front page, web versions, Atom feed);
:mod:`.security` holds headers, body limits, CSRF and rate limits.
"""

from newsletter.web.app import RateLimits, create_app

__all__ = ["RateLimits", "create_app"]
