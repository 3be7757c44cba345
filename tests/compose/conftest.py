"""Fixtures for the compose tests: a throwaway project on SQLite (compose never touches the database)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from newsletter.cli import main
from newsletter.config import Settings, load_settings
from tests.conftest import write_project

SAMPLE = "2019-12-20-tak-for-et-godt-2019"
SECOND_SAMPLE = "2020-03-02-nyt-fra-erhvervsservice"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    write_project(folder, f"sqlite:///{tmp_path / 'newsletter.db'}")
    return folder


@pytest.fixture
def compose_settings(project: Path) -> Settings:
    return load_settings(project / "newsletter.toml")


@pytest.fixture
def run_cli(project: Path) -> Callable[..., Result]:
    """Run ``newsletter --config <project> ARGS`` in-process, as a user would."""

    def run(*args: str) -> Result:
        return CliRunner().invoke(main, ["--config", str(project / "newsletter.toml"), *args])

    return run


@pytest.fixture
def write_issue(project: Path) -> Callable[[str, str], Path]:
    """Write ``issues/<name>.md`` with ``content`` (text, UTF-8) and return its path."""

    def write(name: str, content: str) -> Path:
        path = project / "issues" / f"{name}.md"
        path.write_text(content, encoding="utf-8")
        return path

    return write
