"""Pre-send checks: what would look broken, get clipped or break the rules in an inbox.

- :mod:`.core`: :func:`check_html` on one recipient's final HTML and text (offline).
- :mod:`.issue`: :func:`check_issue` merges a rendered issue for a sample recipient,
  with the List-Unsubscribe headers a send adds, and runs the core.
- :mod:`.online`: :func:`check_online` asks every link and image whether it answers.

Every check's code, severity and reason is listed in ``docs/checks.md``.
"""

from newsletter.checks.core import Finding, SourceMap, check_html, has_errors, link_problem
from newsletter.checks.issue import check_issue
from newsletter.checks.online import check_online

__all__ = [
    "Finding",
    "SourceMap",
    "check_html",
    "check_issue",
    "check_online",
    "has_errors",
    "link_problem",
]
