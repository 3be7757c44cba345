"""What every command reads: the settings, loaded on first use, and the list it works on.

Apart from :mod:`newsletter.cli.group`, so that ``newsletter --help`` loads no
settings code (the settings reader, the providers' declarations, address
validation); a command's module imports this one and reads the settings when
it runs.
"""

from __future__ import annotations

import click

from newsletter.cli.group import GroupOptions
from newsletter.config import Settings, load_settings

# Where the settings of one run are kept once read: click's ``meta`` is shared by its nested contexts.
_SETTINGS_KEY = "newsletter.settings"

LIST_OPTION_HELP = "List name (default: [defaults] list in newsletter.toml)."


def settings_of(ctx: click.Context) -> Settings:
    """The settings of this run, read once from ``--config`` (or ``$NEWSLETTER_CONFIG``, or ./newsletter.toml)."""
    if _SETTINGS_KEY not in ctx.meta:
        options = ctx.find_object(GroupOptions)
        ctx.meta[_SETTINGS_KEY] = load_settings(options.config_path if options else None)
    settings: Settings = ctx.meta[_SETTINGS_KEY]
    return settings


def list_name_of(ctx: click.Context, given: str | None) -> str:
    """The list a command works on: ``--list`` when given, else ``[defaults] list``."""
    return given or settings_of(ctx).default_list
