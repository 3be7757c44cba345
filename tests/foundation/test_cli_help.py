"""Every `newsletter` command and subcommand documents itself with an Example."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from newsletter.cli import main


def walk(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


COMMANDS = list(walk(main))


def test_the_group_has_commands() -> None:
    assert len(COMMANDS) > 5


@pytest.mark.parametrize(
    ("path", "command"), COMMANDS, ids=[" ".join(p) or "newsletter" for p, _ in COMMANDS]
)
def test_help_has_an_example(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output, f"'newsletter {' '.join(path)} --help' has no Example: block"
    assert "newsletter" in result.output.split("Example:", 1)[1]
