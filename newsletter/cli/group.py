"""The ``newsletter`` click group and what every command module shares.

:class:`NewsletterGroup` turns a :class:`~newsletter.errors.NewsletterError`
into one ``Error: …`` line on stderr and the error's exit code; commands read
settings through :func:`settings_of`. The area modules (``newsletter.cli.*``)
import from here; :mod:`newsletter.cli` imports them and registers their
commands.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from newsletter.config import Settings, load_settings
from newsletter.errors import NewsletterError
from newsletter.secrets import install_log_redaction


class NewsletterGroup(click.Group):
    """A click group that reports library errors as one clean line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except NewsletterError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)


class AppContext:
    """Settings loaded on first use, so ``--help`` works without a settings file."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self.config_path)
        return self._settings


def settings_of(ctx: click.Context) -> Settings:
    return ctx.find_object(AppContext).settings  # type: ignore[union-attr]


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
    ctx.obj = AppContext(config_path)


LIST_OPTION_HELP = "List name (default: [defaults] list in newsletter.toml)."


def list_name_of(ctx: click.Context, given: str | None) -> str:
    """The list a command works on: ``--list`` when given, else ``[defaults] list``."""
    return given or settings_of(ctx).default_list
