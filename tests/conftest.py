"""Fixtures shared by every area's tests.

- ``settings`` / ``project_dir``: a throwaway project (settings file, the real
  templates and issues, a SQLite file) in a temporary folder.
- ``database_url``: runs a test once on a real SQLite file and once on a fresh
  PostgreSQL database when ``NEWSLETTER_TEST_DATABASE_URL`` is set (``.ci/run``
  sets it when PostgreSQL answers). When it is not, the PostgreSQL runs skip
  and the summary at the end says so in one line.
- ``NEWSLETTER_SECRET_KEY`` is set to a test value for every test.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from newsletter.checks.spam import SPAMASSASSIN_ENV
from newsletter.config import Settings, load_settings
from newsletter.store import db

REPO = Path(__file__).resolve().parent.parent
TEST_SECRET_KEY = "test-secret-key-for-signing-0123456789"
PG_ENV = "NEWSLETTER_TEST_DATABASE_URL"
# Every skipped PostgreSQL run says this; the summary counts the skips by it, which also works when
# the tests ran in worker processes (make test) and only their reports reach this one.
PG_SKIPPED = "PostgreSQL run skipped"


@pytest.fixture(autouse=True)
def _test_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NEWSLETTER_SECRET_KEY", TEST_SECRET_KEY)
    # Scoring a message for spam takes seconds; tests/compose/test_spam_score.py turns it on.
    monkeypatch.setenv(SPAMASSASSIN_ENV, "off")
    for name in ("NEWSLETTER_CONFIG", "NEWSLETTER_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    yield
    db.dispose_all()


SETTINGS_TEMPLATE = """
[organisation]
name = "BusinessBallerup"
address = "Ballerup Kommune, Hold-An Vej 7, 2750 Ballerup"
website = "https://example.org/businessballerup"

[sender]
name = "BusinessBallerup"
email = "nyhedsbrev@example.org"
reply_to = "jrau@balk.dk"
unsubscribe_mailto = "afmeld@example.org"

[site]
base_url = "https://nyhedsbrev.example.org"

[defaults]
language = "da"
template = "newsletter"
list = "erhverv"

[database]
url = "{database_url}"

[provider]
name = "outbox"
outbox_dir = "outbox"

[sample]
email = "modtager@example.com"
name = "Jens Hansen"
"""


def write_project(folder: Path, database_url: str, extra: str = "") -> Path:
    """A project folder with settings, the repository's templates and issues; returns the settings path."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("templates", "issues"):
        source = REPO / name
        if source.is_dir() and not (folder / name).exists():
            shutil.copytree(source, folder / name)
    path = folder / "newsletter.toml"
    path.write_text(SETTINGS_TEMPLATE.format(database_url=database_url) + extra, encoding="utf-8")
    return path


@pytest.fixture
def project_dir(tmp_path: Path, database_url: str) -> Path:
    write_project(tmp_path / "project", database_url)
    return tmp_path / "project"


@pytest.fixture
def settings(project_dir: Path) -> Settings:
    return load_settings(project_dir / "newsletter.toml")


def _postgres_server_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsletter.db'}"
        return
    server = _postgres_server_url()
    if server is None:
        pytest.skip(f"{PG_SKIPPED}: {PG_ENV} is not set")
    name = f"nltest_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server went away: say so, do not pass silently
        admin.dispose()
        pytest.skip(f"{PG_SKIPPED}: cannot create a test database: {exc}")
    url = make_url(server).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        db.dispose_all()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsletter.db'}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    pg_skips = [
        report for report in terminalreporter.stats.get("skipped", []) if PG_SKIPPED in str(report.longrepr)
    ]
    if pg_skips:
        terminalreporter.write_line(
            f"PostgreSQL: {len(pg_skips)} storage test runs SKIPPED — set {PG_ENV} "
            "(e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test) to run them.",
            yellow=True,
        )
    elif _postgres_server_url():
        terminalreporter.write_line(
            f"PostgreSQL: storage tests ran against {make_url(_postgres_server_url() or '').render_as_string(hide_password=True)}"
        )
