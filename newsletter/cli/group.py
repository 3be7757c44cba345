"""The ``newsletter`` click group and what every command module shares.

:class:`NewsletterGroup` knows each command by a :class:`LazyCommand` — its
module, its name there and its one-line help — and imports the module only
when the command runs (or shows its own ``--help``), so ``newsletter --help``
and a quick ``newsletter build`` do not load the web service, the database
layer or the HTTP clients. It turns a :class:`~newsletter.errors.NewsletterError`
into one ``Error: …`` line on stderr and the error's exit code. It imports no
settings code: commands read the settings through :mod:`newsletter.cli.context`.
The area modules (``newsletter.cli.*``) import from here and from there;
:mod:`newsletter.cli` holds the table of commands.
"""

from __future__ import annotations

import importlib
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import click

from newsletter.errors import NewsletterError
from newsletter.secrets import install_log_redaction


@dataclass(frozen=True)
class LazyCommand:
    """A command of the group, known without importing it."""

    module: str  # e.g. "newsletter.cli.compose"
    attribute: str  # the click command in that module, e.g. "build_command"
    # The first sentence of its help: what ``newsletter --help`` lists beside its name.
    short_help: str


class NewsletterGroup(click.Group):
    """A click group that loads a command's module when the command is used, and reports library errors as one clean line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Filled in by newsletter.cli, which holds the table (the command modules import this one).
        self.lazy_commands: Mapping[str, LazyCommand] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        lazy = self.lazy_commands.get(cmd_name)
        if lazy is None:
            return super().get_command(ctx, cmd_name)
        command = getattr(importlib.import_module(lazy.module), lazy.attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"{lazy.module}.{lazy.attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, shortened as click shortens it, from the table: listing loads no command."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = [(name, self._listed(ctx, name).get_short_help_str(limit)) for name in names]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def _listed(self, ctx: click.Context, name: str) -> click.Command:
        """The command itself, or for a lazy one a stand-in that carries its help line."""
        lazy = self.lazy_commands.get(name)
        if lazy is not None:
            return click.Command(name, help=lazy.short_help)
        command = super().get_command(ctx, name)
        assert command is not None, f"listed command {name!r} is not in the group"
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)


@dataclass(frozen=True)
class GroupOptions:
    """What ``newsletter``'s own options say to every command: the settings file ``--config`` names.

    The settings are read from it on first use (:func:`newsletter.cli.context.settings_of`),
    so ``--help`` needs no settings file and loads no settings code.
    """

    config_path: str | None


@click.group(cls=NewsletterGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    envvar="NEWSLETTER_CONFIG",
    type=click.Path(dir_okay=False),
    help="Settings file (default: ./newsletter.toml, or $NEWSLETTER_CONFIG).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens, to stderr.")
@click.version_option(package_name="newsletter")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, verbose: bool) -> None:
    """Write newsletter issues as files, render them to email, send them exactly once.

    Example:

        newsletter build issues/2019-12-20-tak-for-et-godt-2019.md
    """
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    install_log_redaction()
    ctx.obj = GroupOptions(config_path)
