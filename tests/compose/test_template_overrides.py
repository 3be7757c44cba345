"""A team's templates/ wins name by name; every template it does not override comes from the package."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from newsletter.config import Settings
from newsletter.render import available_templates
from newsletter.template_sources import BUILTIN_TEMPLATES
from tests.compose.conftest import SAMPLE, SECOND_SAMPLE

MARK = "Vores egen bund"


def built_html(project: Path, name: str) -> str:
    return (project / "build" / name / "email.html").read_text(encoding="utf-8")


def test_overriding_the_base_layout_alone_keeps_the_built_in_designs(
    project: Path, run_cli: Callable[..., Result], compose_settings: Settings
) -> None:
    assert not list((project / "templates").glob("*.j2"))  # the project starts with no templates of its own
    layout = (BUILTIN_TEMPLATES / "base.mjml.j2").read_text(encoding="utf-8")
    (project / "templates" / "base.mjml.j2").write_text(
        layout.replace("<p><strong>", f"<p>{MARK}</p><p><strong>"),
        encoding="utf-8",
    )
    result = run_cli("build", SAMPLE, SECOND_SAMPLE)
    assert result.exit_code == 0, result.output
    holiday, newsletter = built_html(project, SAMPLE), built_html(project, SECOND_SAMPLE)
    # Both designs come from the package (the holiday card's green page, the newsletter's kicker) ...
    assert "#1d4d3a" in holiday and "ERHVERVSNYT FRA BUSINESSBALLERUP" in newsletter
    # ... and both extend the team's layout.
    assert MARK in holiday and MARK in newsletter
    assert available_templates(compose_settings) == ["holiday", "newsletter"]


def test_an_override_can_extend_the_built_in_it_replaces(
    project: Path, run_cli: Callable[..., Result]
) -> None:
    (project / "templates" / "base.mjml.j2").write_text(
        '{% extends "builtin/base.mjml.j2" %}\n'
        '{% block footer_links %}{{ super() }} · <a href="https://example.org/kontakt">Kontakt</a>{% endblock %}\n',
        encoding="utf-8",
    )
    result = run_cli("build", SECOND_SAMPLE)
    assert result.exit_code == 0, result.output
    html = built_html(project, SECOND_SAMPLE)
    assert 'href="https://example.org/kontakt"' in html
    assert "Afmeld nyhedsbrevet" in html and "Hold-An Vej 7" in html  # the rest of the built-in footer


def test_a_team_design_overrides_a_built_in_design_of_the_same_name(
    project: Path, run_cli: Callable[..., Result]
) -> None:
    (project / "templates" / "holiday.mjml.j2").write_text(
        '{% extends "base.mjml.j2" %}\n{% block content %}<mj-section><mj-column>'
        f"<mj-text>{MARK}: {{{{ issue.subject }}}}</mj-text></mj-column></mj-section>{{% endblock %}}\n",
        encoding="utf-8",
    )
    result = run_cli("build", SAMPLE)
    assert result.exit_code == 0, result.output
    html = built_html(project, SAMPLE)
    assert f"{MARK}: Tak for et godt 2019" in html and "#1d4d3a" not in html
