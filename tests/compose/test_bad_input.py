"""Every bad input gives one clear line naming file and line, a non-zero exit, and writes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from newsletter import template_sources
from newsletter.template_sources import BUILTIN_TEMPLATES

GOOD_FRONT = "---\nsubject: Et nummer\ntemplate: newsletter\n---\n"
NAME = "2020-01-01-test"


def assert_clean_failure(result: Result, project: Path, *needles: str, exit_code: int = 3) -> str:
    """Exit code, exactly one 'Error:' line containing every needle, and an untouched build folder."""
    assert result.exit_code == exit_code, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    build = project / "build"
    assert not build.exists() or not any(build.iterdir()), list(build.iterdir())
    return lines[0]


@pytest.mark.parametrize(
    ("content", "needles"),
    [
        ("subject: Glemt front matter\n\nTekst.\n", [f"{NAME}.md:1:", "no front matter"]),
        ("---\nsubject: Aldrig lukket\n\nTekst.\n", [f"{NAME}.md:1:", "never closed"]),
        ("---\nsubject: ok\ndate: [2020\n---\nTekst.\n", [f"{NAME}.md:3:", "not valid YAML"]),
        (
            '---\nsubject: "Nyt fra kommunen\npreheader: x\ndate: 2020-01-02\n---\nTekst.\n',
            [f"{NAME}.md:2:", "not valid YAML", "never closed"],
        ),
        (
            "---\nsubject: Nyt: fra kommunen\n---\nTekst.\n",
            [f"{NAME}.md:2:", "not valid YAML", "needs quotes"],
        ),
        ("---\npreheader: Intet emne\n---\nTekst.\n", [f"{NAME}.md:1:", "'subject' is missing"]),
        ("---\nsubject: x\ndate: 2020-13-45\n---\nTekst.\n", [f"{NAME}.md:3:", "YYYY-MM-DD"]),
        ("---\nsubject: x\nlang: de\n---\nTekst.\n", [f"{NAME}.md:3:", "lang: 'de' is not supported"]),
        (GOOD_FRONT + "\nTekst.\n\n![](foto.jpg)\n", [f"{NAME}.md:8:", "no alt text"]),
        (GOOD_FRONT + "\nEt ![ ](https://example.org/a.png) billede.\n", [f"{NAME}.md:6:", "no alt text"]),
        (GOOD_FRONT + "\n![Et foto](mangler.jpg)\n", [f"{NAME}.md:6:", "not found", f"{NAME}/"]),
        (GOOD_FRONT + "\nSe [siden](side.html).\n", [f"{NAME}.md:6:", "not an absolute address"]),
        # markdown-it refuses these addresses and would show the bracket text: an error instead.
        (
            GOOD_FRONT + "\nTekst.\n\n[farligt](javascript:alert(1))\n",
            [f"{NAME}.md:8:", "'javascript:alert(1)' cannot be used in an email", "https://"],
        ),
        (
            GOOD_FRONT + "\n::: button\n[Klik](vbscript:msgbox)\n:::\n",
            [f"{NAME}.md:7:", "'vbscript:msgbox' cannot be used"],
        ),
        (
            GOOD_FRONT + "\n::: knap\n[x](https://example.org)\n:::\n",
            [f"{NAME}.md:6:", "unknown block '::: knap'"],
        ),
        (GOOD_FRONT + "\n::: button\n[x](https://example.org)\n", [f"{NAME}.md:6:", "never closed"]),
        (GOOD_FRONT + "\n::: button\nIngen link\n:::\n", [f"{NAME}.md:6:", "exactly one link"]),
        (GOOD_FRONT + "\n::: column\nKun en\n:::\n", [f"{NAME}.md:6:", "2 to 4"]),
        (GOOD_FRONT + "\n# Titel\n", [f"{NAME}.md:6:", "use '## '"]),
        (GOOD_FRONT + "\n", [f"{NAME}.md:5:", "no text"]),
        ("---\nsubject: x\nsalutation: nej\n---\nTekst.\n", [f"{NAME}.md:3:", "true or false"]),
        (
            '---\nsubject: "Nyt\\e"\n---\nTekst.\n',
            [f"{NAME}.md:2:", "subject: holds an invisible control character"],
        ),
        (GOOD_FRONT + "\nTekst\x0bfra Word.\n", [f"{NAME}.md:6:", "control character U+000B in column 6"]),
    ],
    ids=[
        "no-front-matter",
        "unclosed-front-matter",
        "malformed-yaml",
        "unclosed-quote-in-yaml",
        "colon-in-unquoted-yaml-value",
        "missing-subject",
        "bad-date",
        "unknown-language",
        "image-without-alt",
        "inline-image-blank-alt",
        "missing-image-file",
        "relative-link",
        "javascript-link",
        "vbscript-button",
        "unknown-container",
        "unclosed-container",
        "button-without-link",
        "lonely-column",
        "h1-heading",
        "empty-body",
        "salutation-not-boolean",
        "escaped-control-character",
        "control-character",
    ],
)
def test_bad_issue_file(
    content: str,
    needles: list[str],
    run_cli: Callable[..., Result],
    write_issue: Callable[..., Path],
    project: Path,
) -> None:
    write_issue(NAME, content)
    assert_clean_failure(run_cli("build", NAME), project, *needles)


def test_not_utf8_names_file_and_line(run_cli: Callable[..., Result], project: Path) -> None:
    path = project / "issues" / f"{NAME}.md"
    path.write_bytes("---\nsubject: Nyt\n---\n\nGlædelig jul\n".encode("cp1252"))
    assert_clean_failure(run_cli("build", NAME), project, f"{NAME}.md:5:", "not UTF-8")


def test_unknown_template_names_field_line(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    write_issue(NAME, "---\nsubject: Nyt\nlang: da\ntemplate: julekort\n---\n\nTekst.\n")
    line = assert_clean_failure(run_cli("build", NAME), project, f"{NAME}.md:4:", "'julekort' does not exist")
    # ... where it looked: the project's folder first, then the templates inside the package,
    assert f"in templates/ or the built-ins ({BUILTIN_TEMPLATES})" in line
    assert "use one of: holiday, newsletter" in line  # ... and what exists there


def test_an_install_without_its_templates_says_to_reinstall(
    run_cli: Callable[..., Result], project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(template_sources, "BUILTIN_TEMPLATES", tmp_path / "site-packages" / "templates")
    line = assert_clean_failure(run_cli("build", "2020-03-02-nyt-fra-erhvervsservice"), project, ".md:6:")
    assert line.endswith("hold no templates at all — reinstall newsletter"), line


@pytest.mark.parametrize(
    ("file_name", "suggestion"),
    [
        ("Nyhed om Ærø.md", "YYYY-MM-DD-nyhed-om-aeroe.md"),
        ("2020-01-01-Godt Nytår.md", "2020-01-01-godt-nytaar.md"),
        ("2020-01-01-nyhed.txt", "2020-01-01-nyhed.md"),
    ],
)
def test_issue_file_name_must_be_date_and_slug(
    run_cli: Callable[..., Result], project: Path, file_name: str, suggestion: str
) -> None:
    path = project / "issues" / file_name
    path.write_text("---\nsubject: Nyt\n---\n\nTekst.\n", encoding="utf-8")
    assert_clean_failure(
        run_cli("build", str(path)),
        project,
        file_name,
        "must be YYYY-MM-DD-slug.md",
        f"rename it to {suggestion}",
    )


def test_unknown_issue_name(run_cli: Callable[..., Result], project: Path) -> None:
    assert_clean_failure(run_cli("build", "findes-ikke"), project, "findes-ikke", "no such issue")


def _template(project: Path, name: str, body: str) -> None:
    (project / "templates" / f"{name}.mjml.j2").write_text(body, encoding="utf-8")


GOOD_CONTENT = '{% extends "base.mjml.j2" %}\n{% block content %}\n<mj-section>\n  <mj-column>\n'


def test_undefined_template_variable_names_template_line(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    _template(
        project,
        "custom",
        GOOD_CONTENT
        + "    <mj-text>{{ issue.meta.sponsor.name }}</mj-text>\n  </mj-column>\n</mj-section>\n{% endblock %}\n",
    )
    write_issue(NAME, "---\nsubject: Nyt\ntemplate: custom\n---\n\nTekst.\n")
    assert_clean_failure(
        run_cli("build", NAME),
        project,
        "templates/custom.mjml.j2:5:",
        "undefined template variable: 'sponsor' is not set",
        f"(rendering {project / 'issues' / NAME}.md)",
    )


def test_template_syntax_error_names_template_line(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    _template(project, "custom", GOOD_CONTENT + "    <mj-text>{% if %}</mj-text>\n")
    write_issue(NAME, "---\nsubject: Nyt\ntemplate: custom\n---\n\nTekst.\n")
    assert_clean_failure(run_cli("build", NAME), project, "templates/custom.mjml.j2:5:", "syntax error")


def test_invalid_mjml_names_template_and_generated_line(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    # <mj-text> is never closed: MRML only says "unexpected end of stream".
    _template(
        project,
        "custom",
        GOOD_CONTENT + '    <mj-text color="#123456">Hej\n  </mj-column>\n</mj-section>\n{% endblock %}\n',
    )
    write_issue(NAME, "---\nsubject: Nyt\ntemplate: custom\n---\n\nTekst.\n")
    line = assert_clean_failure(
        run_cli("build", NAME), project, "templates/custom.mjml.j2:5:", "invalid MJML", "generated MJML line"
    )
    assert "<mj-text" in line


def test_unknown_mj_tag_is_caught(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    _template(
        project,
        "custom",
        GOOD_CONTENT
        + "    <mj-text>Hej</mj-text>\n  </mj-column>\n</mj-section>\n<mj-sectin><mj-column /></mj-sectin>\n{% endblock %}\n",
    )
    write_issue(NAME, "---\nsubject: Nyt\ntemplate: custom\n---\n\nTekst.\n")
    assert_clean_failure(
        run_cli("build", NAME),
        project,
        "templates/custom.mjml.j2:8:",
        "unknown MJML tag <mj-sectin>",
        "<mj-section>",
    )


def test_one_bad_issue_stops_the_whole_build_and_keeps_the_old_output(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    first = run_cli("build")
    assert first.exit_code == 0, first.output
    built = project / "build" / "2019-12-20-tak-for-et-godt-2019" / "email.html"
    before = built.read_bytes()
    write_issue("2021-01-01-broken", "---\nsubject: x\n---\n\n![](x.png)\n")
    result = run_cli("build")
    assert result.exit_code == 3
    assert "2021-01-01-broken.md:5:" in result.stderr
    assert built.read_bytes() == before
    names = sorted(path.name for path in (project / "build").iterdir())
    assert names == ["2019-12-20-tak-for-et-godt-2019", "2020-03-02-nyt-fra-erhvervsservice"]


def test_stray_closing_tag_is_located_in_the_template(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    _template(
        project,
        "custom",
        GOOD_CONTENT
        + "    <mj-text>Hej</mj-text>\n  </mj-column>\n</mj-section>\n</mj-wrapper>\n{% endblock %}\n",
    )
    write_issue(NAME, "---\nsubject: Nyt\ntemplate: custom\n---\n\nTekst.\n")
    assert_clean_failure(
        run_cli("build", NAME),
        project,
        "templates/custom.mjml.j2:8:",
        "</mj-wrapper> closes a tag that is not open",
    )


def test_style_blocks_over_gmails_limit_are_refused(
    run_cli: Callable[..., Result], write_issue: Callable[..., Path], project: Path
) -> None:
    rules = "\n".join(f".rule-{n} {{ color: #123456 !important; }}" for n in range(700))
    _template(
        project,
        "custom",
        '{% extends "base.mjml.j2" %}\n{% block styles %}@media (max-width: 479px) {\n'
        + rules
        + "\n}\n{% endblock %}\n{% block content %}<mj-section><mj-column><mj-text>Hej</mj-text>"
        "</mj-column></mj-section>{% endblock %}\n",
    )
    write_issue(NAME, "---\nsubject: Nyt\ntemplate: custom\n---\n\nTekst.\n")
    assert_clean_failure(
        run_cli("build", NAME), project, "templates/custom.mjml.j2:", "Gmail drops them above 16384"
    )
