"""Every `newsletter` command and subcommand documents itself with an Example, and the group's
table of commands (loaded when used) lists exactly the real commands with their real help line."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from newsletter import cli
from newsletter.cli import COMMANDS, main
from newsletter.cli.group import LazyCommand, NewsletterGroup


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        context = click.Context(command)
        for name in command.list_commands(context):
            sub = command.get_command(context, name)
            assert sub is not None, f"'newsletter {' '.join((*path, name))}' is listed but cannot be loaded"
            yield from walk(sub, (*path, name))


COMMANDS_AND_SUBCOMMANDS = list(walk(main))


def _area_modules() -> list[str]:
    names = [info.name for info in pkgutil.iter_modules(cli.__path__)]
    return [f"newsletter.cli.{name}" for name in sorted(names) if name != "group"]


def _real_commands() -> dict[str, tuple[str, str, click.Command]]:
    """Every top-level click command defined in newsletter/cli/*.py: name → (module, attribute, command)."""
    found: dict[str, tuple[str, str, click.Command]] = {}
    for module_name in _area_modules():
        module = importlib.import_module(module_name)
        commands = {
            attribute: value
            for attribute, value in vars(module).items()
            if isinstance(value, click.Command) and getattr(value.callback, "__module__", None) == module_name
        }
        inside_a_group = {
            id(sub)
            for value in commands.values()
            if isinstance(value, click.Group)
            for sub in value.commands.values()
        }
        for attribute, command in commands.items():
            if id(command) not in inside_a_group:
                assert command.name is not None
                found[command.name] = (module_name, attribute, command)
    return found


def test_the_group_has_commands() -> None:
    assert len(COMMANDS_AND_SUBCOMMANDS) > 5


def test_the_table_names_every_real_command_with_its_module_and_help_line() -> None:
    real = _real_commands()
    assert sorted(COMMANDS) == sorted(real), "newsletter/cli/__init__.py's COMMANDS and the commands differ"
    for name, (module, attribute, command) in real.items():
        listed = COMMANDS[name]
        assert (listed.module, listed.attribute) == (module, attribute)
        # The help line as click would list it, unshortened: short_help, else the help's first sentence.
        assert listed.short_help == command.get_short_help_str(limit=10_000), (
            f"COMMANDS[{name!r}].short_help differs from the first line of '{name}'s help"
        )


def test_newsletter_help_lists_what_the_loaded_commands_would_list() -> None:
    eager = click.Group(
        name=main.name, params=main.params, help=main.help, context_settings=main.context_settings
    )
    for name, (_module, _attribute, command) in _real_commands().items():
        eager.add_command(command, name)
    lazy = CliRunner().invoke(main, ["--help"], prog_name="newsletter")
    loaded = CliRunner().invoke(eager, ["--help"], prog_name="newsletter")
    assert lazy.exit_code == loaded.exit_code == 0
    assert lazy.output == loaded.output
    assert "Commands:\n  build        Render issues to DIR/<slug>/" in lazy.output


def test_a_table_entry_that_is_not_a_command_is_a_clear_error() -> None:
    group = NewsletterGroup(name="newsletter")
    group.lazy_commands = {"wrong": LazyCommand("newsletter.cli.group", "GroupOptions", "Not a command.")}
    with pytest.raises(TypeError, match=r"newsletter\.cli\.group\.GroupOptions is not a click command"):
        group.get_command(click.Context(group), "wrong")
    assert group.get_command(click.Context(group), "nosuch") is None


def test_an_unknown_command_says_so() -> None:
    result = CliRunner().invoke(main, ["biuld"])
    assert result.exit_code == 2
    assert "No such command 'biuld'" in result.output


@pytest.mark.parametrize(
    ("path", "command"),
    COMMANDS_AND_SUBCOMMANDS,
    ids=[" ".join(p) or "newsletter" for p, _ in COMMANDS_AND_SUBCOMMANDS],
)
def test_help_has_an_example(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output, f"'newsletter {' '.join(path)} --help' has no Example: block"
    assert "newsletter" in result.output.split("Example:", 1)[1]
