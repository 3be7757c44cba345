"""Spam score 0 for everything the project mails: SpamAssassin (Debian's, local rules only) on
the sample message of every issue, every message a send puts in the outbox, and the sign-up
confirmation email.

SpamAssassin is a real tool installed by ``.ci/run`` and ``make test`` like Chromium; without it
this test fails and says how to install it, rather than passing unseen.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from newsletter.checks.spam import SPAMASSASSIN_ENV, spam_scores
from newsletter.cli import main
from newsletter.config import Settings
from newsletter.store.lists import ListRow
from tests.web.conftest import AppClient, add_member, sign_up

# The score does not depend on the database: SQLite only.
pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


def _spamassassin() -> str:
    program = shutil.which("spamassassin")
    assert program, "SpamAssassin is missing: apt-get install spamassassin (.ci/run and make test install it)"
    return program


def _newsletter(settings: Settings, *args: str) -> str:
    result = CliRunner().invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_message_we_send_scores_zero(
    client: AppClient, settings: Settings, engine: Engine, erhverv: ListRow, issue_files: list[Path]
) -> None:
    program = _spamassassin()
    assert sign_up(client, "ny.virksomhed@example.com", name="Ny Virksomhed").status_code == 200
    add_member(engine, "ida@example.com", name="Ida Sørensen")
    add_member(engine, "kontakt@firma.dk")
    for path in issue_files:
        _newsletter(settings, "send", path.stem, "--list", "erhverv", "--yes")
    _newsletter(settings, "build")

    outbox = sorted(settings.provider.options.outbox_dir.rglob("*.eml"))
    samples = sorted(settings.build_dir.glob("*/message.eml"))
    templates = {"holiday", "newsletter"}
    assert len(samples) == len(issue_files) >= len(templates)
    # One confirmation email and one message per issue and member.
    assert len(outbox) == 1 + 2 * len(issue_files)
    files = samples + outbox
    scores = spam_scores([path.read_bytes() for path in files], program)
    scored = {f"{path.parent.name}/{path.name}": score for path, score in zip(files, scores, strict=True)}
    assert {name: score.describe() for name, score in scored.items() if score.points > 0} == {}


def test_check_reports_a_message_that_would_score(
    settings: Settings, issue_files: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `newsletter check` says when a team's own template trips a spam rule (text in the page colour)."""
    monkeypatch.setenv(SPAMASSASSIN_ENV, _spamassassin())
    (settings.templates_dir / "holiday.mjml.j2").write_text(
        '{% extends "builtin/holiday.mjml.j2" %}{% block content %}{{ super() }}'
        '<mj-section background-color="#fffaf0"><mj-column><mj-text color="#fffaf0">'
        + "Skjult tekst til søgemaskiner og filtre. " * 30
        + "</mj-text></mj-column></mj-section>{% endblock %}",
        encoding="utf-8",
    )
    holiday = next(path for path in issue_files if "template: holiday" in path.read_text(encoding="utf-8"))
    result = CliRunner().invoke(main, ["--config", str(settings.path), "check", holiday.stem])
    assert "SpamAssassin gives the message" in result.output, result.output
    assert "HTML_FONT_LOW_CONTRAST" in result.output
    untouched = next(path for path in issue_files if path != holiday)
    assert "spam" not in _newsletter(settings, "check", untouched.stem).lower()
