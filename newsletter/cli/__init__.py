"""The ``newsletter`` command: a thin click layer over the library.

The group lives in :mod:`newsletter.cli.group`; each area registers its
commands from its own module (compose, subscribers, send, schedule, worker,
serve, author, users). Commands read settings through :func:`~newsletter.cli.group.settings_of`
and let :class:`~newsletter.errors.NewsletterError` propagate: the group turns
it into one ``Error: …`` line on stderr and the error's exit code. Every
command's help carries an ``Example:`` (a test checks it).
"""

from __future__ import annotations

from newsletter.cli import author, compose, schedule, send, serve, subscribers, users, worker
from newsletter.cli.group import main

for _area in (compose, subscribers, send, schedule, worker, serve, author, users):
    _area.register(main)

__all__ = ["main"]
