"""The ``newsletter`` command: a thin click layer over the library.

The group lives in :mod:`newsletter.cli.group`; each area's commands live in
their own module (compose, check, author, lists, subscribers, send, reconcile, report, schedule,
worker, serve, users),
and :data:`COMMANDS` names each command's module and its one-line help, so the
group imports a command's module only when that command is used. ``newsletter
--help`` therefore loads none of them, and ``newsletter build`` no web
service, database layer or HTTP client (a test, ``tests/foundation/test_cli_help.py``,
keeps the table equal to the commands). Commands read settings through
:func:`~newsletter.cli.context.settings_of` and let
:class:`~newsletter.errors.NewsletterError` propagate: the group turns it into
one ``Error: …`` line on stderr and the error's exit code. Every command's
help carries an ``Example:`` (a test checks it).
"""

from __future__ import annotations

from newsletter.cli.group import LazyCommand, main

COMMANDS: dict[str, LazyCommand] = {
    "build": LazyCommand(
        "newsletter.cli.compose",
        "build_command",
        "Render issues to DIR/<slug>/: email.html, email.txt and message.eml.",
    ),
    "new": LazyCommand(
        "newsletter.cli.compose",
        "new_command",
        "Create issues/YYYY-MM-DD-<slug>.md from a skeleton; never overwrites.",
    ),
    "check": LazyCommand(
        "newsletter.cli.check",
        "check_command",
        "Run the pre-send checks; exit 8 when any issue has errors (warnings alone exit 0).",
    ),
    "preview": LazyCommand(
        "newsletter.cli.author",
        "preview_command",
        "Show an issue as subscribers will see it, rebuilt on every save.",
    ),
    "screenshot": LazyCommand(
        "newsletter.cli.author",
        "screenshot_command",
        "Write full-page PNGs of an issue at 600 px and 375 px, for a review.",
    ),
    "lists": LazyCommand("newsletter.cli.lists", "lists_group", "Create, show and delete mailing lists."),
    "subscribers": LazyCommand(
        "newsletter.cli.subscribers",
        "subscribers_group",
        "Add, remove, import, export and erase subscribers.",
    ),
    "send": LazyCommand(
        "newsletter.cli.send",
        "send_command",
        "Send ISSUE to everyone on a list, exactly once; run it again to resume.",
    ),
    "status": LazyCommand(
        "newsletter.cli.send",
        "status_command",
        "Who got ISSUE: counts by state, failures with reasons, unknowns.",
    ),
    "reconcile": LazyCommand(
        "newsletter.cli.reconcile",
        "reconcile_command",
        "Look up unknown messages of ISSUE in the provider's own records and settle them.",
    ),
    "report": LazyCommand(
        "newsletter.cli.report",
        "report_command",
        "What happened after ISSUE was sent: delivered, bounced, complained, unsubscribed, by domain.",
    ),
    "schedule": LazyCommand(
        "newsletter.cli.schedule",
        "schedule_group",
        "Sends waiting for their time: list them, or call one off.",
    ),
    "worker": LazyCommand(
        "newsletter.cli.worker",
        "worker_command",
        "Send scheduled sends at their time; keep running until stopped.",
    ),
    "serve": LazyCommand(
        "newsletter.cli.serve",
        "serve",
        "Run the web service: sign-up with double opt-in, unsubscribe, webhooks, archive, workspace.",
    ),
    "users": LazyCommand(
        "newsletter.cli.users",
        "users_group",
        "Add, list, disable, enable and reset the people who use the /admin workspace.",
    ),
}
main.lazy_commands = COMMANDS

__all__ = ["COMMANDS", "main"]
