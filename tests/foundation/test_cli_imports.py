"""A command loads what it uses and no more: ``newsletter --help`` answers at once, a build
renders without the web service, the database layer or the HTTP clients.

Each command runs as a real process (the installed ``newsletter`` entry point's
code, ``newsletter.cli:main``) that writes the names of the modules it loaded
when it exits; a command-line module that imports a heavy area at its top, or a
layer that reaches up to one, shows here. The packages named are those that
cost an interpreter a noticeable share of a second to import.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_project

SAMPLE = "2019-12-20-tak-for-et-godt-2019"

# Run the command as the console script does, and list sys.modules at exit (after sys.exit too).
RUN_AND_LIST_MODULES = """
import atexit, sys
out = sys.argv[1]
atexit.register(lambda: open(out, "w", encoding="utf-8").write("\\n".join(sorted(sys.modules))))
from newsletter.cli import main
sys.argv = ["newsletter", *sys.argv[2:]]
main()
"""

# The database layer, the web service and its server, the HTTP client, the Excel reader.
SERVICE_STACK = ("sqlalchemy", "alembic", "psycopg", "httpx", "starlette", "uvicorn", "openpyxl")
# What only sending, signing in or a browser needs.
SENDING_AND_SIGN_IN = ("botocore", "cryptography", "argon2", "rich", "playwright", "watchfiles")
# The email renderer: Jinja2, MJML, premailer (and with it lxml, cssutils, requests).
RENDERER = ("jinja2", "mjml", "premailer", "lxml", "cssutils", "requests", "markdown_it")

# Reading the settings: address validation (and its IDNA tables), Danish dates, the settings code.
SETTINGS = ("email_validator", "idna", "babel", "newsletter.config", "newsletter.providers")

NOT_LOADED = {
    "--help": SERVICE_STACK + SENDING_AND_SIGN_IN + RENDERER + SETTINGS,
    "build": SERVICE_STACK + SENDING_AND_SIGN_IN,
    # check asks links over HTTP (--online): httpx (which brings rich) is its own.
    "check": tuple(m for m in SERVICE_STACK + SENDING_AND_SIGN_IN if m not in ("httpx", "rich")),
}


def loaded_by(tmp_path: Path, project: Path, *args: str) -> set[str]:
    """Every module ``newsletter ARGS`` had loaded when it exited, and the top-level package of each."""
    listing = tmp_path / "modules.txt"
    ran = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST_MODULES, str(listing), *args],
        capture_output=True, text=True, cwd=project, timeout=120,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stdout + ran.stderr
    modules = set(listing.read_text(encoding="utf-8").split())
    return modules | {name.partition(".")[0] for name in modules}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    write_project(folder, f"sqlite:///{tmp_path / 'newsletter.db'}")
    return folder


def test_help_loads_no_command(tmp_path: Path, project: Path) -> None:
    loaded = loaded_by(tmp_path, project, "--help")
    assert sorted(loaded & set(NOT_LOADED["--help"])) == []
    assert sorted(name for name in loaded if name.startswith("newsletter.cli.")) == ["newsletter.cli.group"]


def test_build_loads_the_renderer_only(tmp_path: Path, project: Path) -> None:
    loaded = loaded_by(tmp_path, project, "build", SAMPLE)
    assert (project / "build" / SAMPLE / "email.html").is_file()
    assert {"premailer", "mjml", "newsletter.config"} <= loaded  # it did read the settings and render
    assert sorted(loaded & set(NOT_LOADED["build"])) == []


def test_check_loads_neither_the_store_nor_the_preview_server(tmp_path: Path, project: Path) -> None:
    loaded = loaded_by(tmp_path, project, "check", SAMPLE)
    assert sorted(loaded & set(NOT_LOADED["check"])) == []


def test_the_listing_sees_a_command_that_loads_the_store(tmp_path: Path, project: Path) -> None:
    # ``lists show`` reads the database: the same listing must name SQLAlchemy there.
    loaded = loaded_by(tmp_path, project, "lists", "show")
    assert {"sqlalchemy", "alembic"} <= loaded
