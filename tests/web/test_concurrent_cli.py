"""A write the running server acknowledged survives CLI commands run beside it and a restart.

The probe that found it: the server read ``newsletter.db`` through a hostile
image link (``issues/<slug>/logo.png → ../../newsletter.db``). Closing that
file descriptor dropped every POSIX lock the server's SQLite connections held
on the database, so the next CLI command believed it was the last user,
checkpointed and deleted ``-wal``/``-shm`` — and the server went on committing
into the deleted WAL: one-click unsubscribes answered 200 and were gone after a
restart. The server must never open the database file by another name.
"""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, select

from newsletter.cli import main
from newsletter.config import load_settings
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.db import dispose_all, open_engine
from newsletter.store.schema import memberships
from newsletter.tokens import Signer
from tests.conftest import write_project
from tests.web.serving import run_cli, serving

DRAFT = "2020-03-02-nyt-fra-erhvervsservice"


def _unsubscribed(database: Path) -> set[str]:
    """Addresses whose membership is unsubscribed, read by a fresh connection after the server stopped."""
    engine = create_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(memberships.c.subscriber_id).where(memberships.c.state == "unsubscribed")
            )
            return {str(row.subscriber_id) for row in rows}
    finally:
        engine.dispose()


@pytest.mark.slow
def test_cli_beside_a_running_server_never_loses_an_acknowledged_unsubscribe(tmp_path: Path) -> None:
    project = tmp_path / "project"
    config = write_project(project, "sqlite:///newsletter.db")
    database = project / "newsletter.db"
    settings = load_settings(config)
    engine = open_engine(settings.database_url)
    with engine.begin() as conn:
        the_list = list_store.create_list(conn, "erhverv", "Erhvervsnyt", "Nyt.", "da", "Ja tak.")
        person = subscriber_store.add_subscriber(
            conn, "laeser@example.com", "erhverv", state="subscribed", method="manual", consent_text="t"
        )
    dispose_all()
    # The hostile files of the probe: an image link to the database, and a hard link to it.
    os.symlink("../../newsletter.db", project / "issues" / DRAFT / "logo.png")
    os.link(database, project / "issues" / DRAFT / "kopi.png")
    csv = tmp_path / "import.csv"
    csv.write_text("email,name\nny@example.com,Ny Læser\n", encoding="utf-8")

    with serving(config) as url, httpx.Client(base_url=url, timeout=10) as http:
        for name in ("logo.png", "kopi.png"):
            assert http.get(f"/issues/{DRAFT}/{name}").status_code == 404
        assert run_cli(config, "subscribers", "count").returncode == 0
        answer = http.post(
            f"/u/{Signer().unsubscribe_token(person.link_owner, the_list.id)}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert answer.status_code == 200
        imported = run_cli(config, "subscribers", "import", str(csv), "--list", "erhverv")
        assert imported.returncode == 0, imported.stdout + imported.stderr
    # The server has stopped; a fresh open (what a restart does) recovers from the files on disk.
    assert _unsubscribed(database) == {str(person.id)}


def test_cli_never_writes_over_or_reads_the_database_file(tmp_path: Path) -> None:
    project = tmp_path / "project"
    config = write_project(project, "sqlite:///newsletter.db")
    engine = open_engine(load_settings(config).database_url)
    with engine.begin() as conn:
        list_store.create_list(conn, "erhverv", "Erhvervsnyt", "Nyt.", "da", "Ja tak.")
        subscriber_store.add_subscriber(
            conn, "laeser@example.com", "erhverv", state="subscribed", method="manual", consent_text="t"
        )
    database = project / "newsletter.db"
    before = database.read_bytes()
    os.symlink("newsletter.db", project / "eksport.csv")
    os.link(database, project / "kopi.csv")
    runner = CliRunner()
    for args in (
        ("export", "--list", "erhverv", "--out", str(database)),
        ("export", "--list", "erhverv", "--out", str(project / "newsletter.db-wal")),
        ("export", "--list", "erhverv", "--out", str(project / "eksport.csv")),
        ("export-data", "laeser@example.com", "--out", str(project / "kopi.csv")),
        ("import", str(project / "eksport.csv"), "--list", "erhverv"),
    ):
        result = runner.invoke(main, ["--config", str(config), "subscribers", *args])
        assert result.exit_code == 4, (args, result.output)
        assert "is the subscriber database's own file" in result.output
    assert database.read_bytes() == before and not (project / "newsletter.db-wal").is_symlink()
    with engine.connect() as conn:
        assert conn.execute(select(memberships.c.state)).scalar_one() == "subscribed"
