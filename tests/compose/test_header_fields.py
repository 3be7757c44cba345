"""Header-bound text (subject, preheader, sender) cannot carry a line break into a mail header.

Refused where it is written (the issue file, newsletter.toml) with file and line,
and refused again by the MIME builder and the provider content type, whatever path
a value takes to get there.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from newsletter.config import load_settings
from newsletter.errors import ConfigError
from newsletter.message import Batch, Content, Recipient
from newsletter.mime import build_message
from newsletter.providers.base import Outcome
from newsletter.providers.outbox import OutboxProvider
from newsletter.safe_text import UnsafeText
from tests.compose.test_bad_input import assert_clean_failure

NAME = "2020-01-01-test"

# YAML double-quoted escapes: \r\n, \L (U+2028), \P (U+2029), \N (U+0085), \e (ESC), \t.
HOSTILE = [
    ("Hej\\r\\nBcc: victim@example.org", "a carriage return (U+000D) at character 4"),
    ("Hej\\nBcc: victim@example.org", "a line break (U+000A) at character 4"),
    ("Hej\\LBcc: victim@example.org", "a line separator (U+2028)"),
    ("Hej\\PBcc: victim@example.org", "a paragraph separator (U+2029)"),
    ("Hej\\NBcc: victim@example.org", "a line break (NEL) (U+0085)"),
    ("Hej\\tmed tab", "a tab (U+0009)"),
    ("Hej\\x9bmed CSI", "a control character (U+009B)"),
]


@pytest.mark.parametrize(("value", "shown"), HOSTILE)
def test_subject_with_a_line_break_is_refused_by_build_with_file_and_line(
    run_cli: Callable[..., Result],
    write_issue: Callable[[str, str], Path],
    project: Path,
    value: str,
    shown: str,
) -> None:
    write_issue(NAME, f'---\ntemplate: newsletter\nsubject: "{value}"\n---\nTekst.\n')
    line = assert_clean_failure(run_cli("build", NAME), project, f"{NAME}.md:3:", "subject: holds", shown)
    assert "write the subject as one line" in line


def test_check_reports_it_as_an_error_on_the_subject_line(
    run_cli: Callable[..., Result], write_issue: Callable[[str, str], Path]
) -> None:
    write_issue(NAME, '---\ntemplate: newsletter\nsubject: "Hej\\r\\nBcc: victim@example.org"\n---\nTekst.\n')
    result = run_cli("check", NAME)
    assert result.exit_code != 0
    assert f"{NAME}.md:3: error: subject: holds a carriage return (U+000D)" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("field", ["preheader", "title", "kicker"])
def test_other_single_line_fields_are_refused_too(
    run_cli: Callable[..., Result], write_issue: Callable[[str, str], Path], project: Path, field: str
) -> None:
    write_issue(NAME, f'---\nsubject: Nyt\n{field}: "Se her\\r\\nBcc: victim@example.org"\n---\nTekst.\n')
    assert_clean_failure(
        run_cli("build", NAME), project, f"{NAME}.md:3:", f"{field}: holds a carriage return"
    )


def test_a_multi_line_yaml_block_as_subject_is_refused(
    run_cli: Callable[..., Result], write_issue: Callable[[str, str], Path], project: Path
) -> None:
    write_issue(NAME, "---\nsubject: |\n  Hej\n  Bcc: victim@example.org\n---\nTekst.\n")
    assert_clean_failure(run_cli("build", NAME), project, f"{NAME}.md:2:", "subject: holds a line break")


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("sender", "name", "Kommunen\\r\\nBcc: victim@example.org"),
        ("sender", "name", "Kommunen\\u2028Bcc: victim@example.org"),
        ("organisation", "name", "Kommunen\\u0085Bcc"),
        ("sender", "reply_to", "svar@example.org\\r\\nBcc: victim@example.org"),
        ("sender", "unsubscribe_mailto", "afmeld@example.org\\nBcc: victim@example.org"),
        ("sample", "name", "Jens\\nBcc: victim@example.org"),
    ],
)
def test_settings_header_fields_are_refused_with_file_and_field(
    project: Path, table: str, key: str, value: str
) -> None:
    settings_path = project / "newsletter.toml"
    text = settings_path.read_text(encoding="utf-8")
    section = text.index(f"[{table}]")
    start = text.index(f"\n{key} = ", section) + 1
    end = text.index("\n", start)
    settings_path.write_text(text[:start] + f'{key} = "{value}"' + text[end:], encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(settings_path)
    message = str(caught.value)
    assert message.startswith(f"{settings_path.resolve()}: [{table}] {key}: holds ")
    assert "which a mail header cannot carry — write it on one line" in message
    assert "\n" not in message and "\r" not in message


def _content(**changes: str) -> Content:
    fields = {
        "subject": "Nyt fra kommunen",
        "html": "<p>Hej</p>",
        "text": "Hej",
        "from_email": "nyhedsbrev@example.org",
        "from_name": "Kommunen",
        "reply_to": "svar@example.org",
        "issue": NAME,
    }
    return Content(**{**fields, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [
        {"subject": "Hej\r\nBcc: victim@example.org"},
        {"subject": "Hej\u2028Bcc: victim@example.org"},
        {"subject": "Hej\x85Bcc: victim@example.org"},
        {"from_name": "Kommunen\nBcc: victim@example.org"},
        {"reply_to": "svar@example.org\r\nBcc: victim@example.org"},
    ],
)
def test_provider_content_refuses_header_breaking_values(changes: dict[str, str]) -> None:
    with pytest.raises(UnsafeText, match="a mail header cannot carry it"):
        _content(**changes)


@pytest.mark.parametrize(
    ("recipient", "what"),
    [
        (Recipient(email="ida@example.com", name="Ida\r\nBcc: victim@example.org", values={}), "To name"),
        (Recipient(email="ida@example.com", name="Ida\u2029", values={}), "To name"),
        (
            Recipient(
                email="ida@example.com",
                name="Ida",
                values={},
                headers={"List-Unsubscribe": "<https://x.example/u/1>\r\nBcc: victim@example.org"},
            ),
            "List-Unsubscribe",
        ),
    ],
)
def test_mime_builder_refuses_instead_of_emitting(recipient: Recipient, what: str) -> None:
    with pytest.raises(UnsafeText, match=f"^{what} holds"):
        build_message(_content(), recipient)


def test_outbox_rejects_such_a_recipient_and_writes_the_others(tmp_path: Path) -> None:
    good = Recipient(email="ida@example.com", name="Ida", values={}, metadata={"nl_delivery": "1"})
    bad = Recipient(
        email="bo@example.com", name="Bo\r\nBcc: victim@example.org", values={}, metadata={"nl_delivery": "2"}
    )
    results = OutboxProvider(tmp_path).send_batch(Batch(content=_content(), recipients=[good, bad]))
    assert [result.outcome for result in results] == [Outcome.ACCEPTED, Outcome.REJECTED]
    assert "To name holds a carriage return" in results[1].reason
    written = sorted(path.name for path in (tmp_path / NAME).iterdir())
    assert written == ["1.eml"]
    assert b"victim@example.org" not in (tmp_path / NAME / "1.eml").read_bytes()
