"""The JSON output is the contract (docs/report.schema.json); ``--compare``; every error path is one line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from tests.conftest import REPO
from tests.reports.conftest import EXPECTED_COUNTS, ISSUE, OTHER_ISSUE, ScriptedSend

SCHEMA = json.loads((REPO / "docs" / "report.schema.json").read_text(encoding="utf-8"))


def _valid(document: object) -> None:
    Draft202012Validator.check_schema(SCHEMA)
    problems = [
        f"{list(error.absolute_path)}: {error.message}"
        for error in Draft202012Validator(SCHEMA).iter_errors(document)
    ]
    assert problems == []


def test_the_json_output_keeps_its_documented_versioned_shape(
    scripted_send: Callable[..., ScriptedSend],
) -> None:
    scripted = scripted_send(tracking=True)
    result = scripted.cli("report", ISSUE, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    _valid(document)
    assert (document["format"], document["version"]) == ("newsletter.report", 1)
    # The shape a consumer reads, key by key: adding a key is fine within a version, these stay.
    assert list(document)[:3] == ["format", "version", "generated_at"]
    assert list(document["counts"]) == list(EXPECTED_COUNTS)
    # The schema would catch a renamed or missing field: prove it does.
    broken = dict(document, counts={**document["counts"], "delivered_count": 1})
    assert list(Draft202012Validator(SCHEMA).iter_errors(broken))
    del broken["counts"]
    assert list(Draft202012Validator(SCHEMA).iter_errors(broken))


def test_compare_puts_two_issues_side_by_side(scripted_send: Callable[..., ScriptedSend]) -> None:
    scripted = scripted_send(also_other_issue=True)
    result = scripted.cli("report", "--compare", ISSUE, OTHER_ISSUE, "--format", "json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    _valid(document)
    first, second = document["reports"]
    assert (first["issue"], second["issue"]) == (ISSUE, OTHER_ISSUE)
    assert first["counts"] == EXPECTED_COUNTS
    assert second["counts"]["sent"] == 12 and second["counts"]["delivered"] == 0

    text = scripted.cli("report", "--compare", ISSUE, OTHER_ISSUE)
    assert text.exit_code == 0, text.output
    header, *rows = text.output.splitlines()
    assert header.split() == [ISSUE, OTHER_ISSUE]
    delivered = next(row for row in rows if row.split()[0] == "delivered")
    assert delivered.split() == ["delivered", "9", "(81.8", "%)", "0", "(0.0", "%)"]

    table = scripted.cli("report", "--compare", ISSUE, OTHER_ISSUE, "--format", "csv")
    issues = {line.split(",")[0] for line in table.output.splitlines()[1:]}
    assert issues == {ISSUE, OTHER_ISSUE}


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, output
    return errors[0]


def test_error_paths_say_what_to_do_in_one_line(
    scripted_send: Callable[..., ScriptedSend], tmp_path: Path
) -> None:
    scripted = scripted_send()

    unknown = scripted.cli("report", "no-such-issue")
    assert unknown.exit_code == 4
    assert _one_error_line(unknown.output).startswith("Error: no issue named 'no-such-issue'")

    not_sent = scripted.cli("report", OTHER_ISSUE)
    assert not_sent.exit_code == 4
    line = _one_error_line(not_sent.output)
    assert "has not been sent yet" in line and f"newsletter send {OTHER_ISSUE} --list NAME" in line

    no_list = scripted.cli("report", ISSUE, "--list", "kultur")
    assert no_list.exit_code == 4 and "list 'kultur' does not exist" in _one_error_line(no_list.output)

    bad_format = scripted.cli("report", ISSUE, "--format", "pdf")
    assert bad_format.exit_code == 2
    assert "Invalid value for '--format'" in _one_error_line(bad_format.output)

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    unwritable = scripted.cli("report", ISSUE, "--out", str(blocker / "rapport"))
    assert unwritable.exit_code == 1
    line = _one_error_line(unwritable.output)
    assert "cannot write the report there" in line and "--out" in line
    assert unwritable.stdout == ""  # nothing half-printed either

    neither = scripted.cli("report")
    assert neither.exit_code == 2 and "give one ISSUE, or --compare A B" in _one_error_line(neither.output)


@pytest.mark.parametrize("output_format", ["text", "json", "csv"])
def test_every_format_of_a_report_with_no_events_yet(
    scripted_send: Callable[..., ScriptedSend], output_format: str
) -> None:
    scripted = scripted_send(also_other_issue=True)
    result = scripted.cli("report", OTHER_ISSUE, "--format", output_format)
    assert result.exit_code == 0, result.output
    if output_format == "json":
        document = json.loads(result.stdout)
        _valid(document)
        assert document["counts"]["sent"] == 12 and document["rates"]["delivered"] == 0.0
        assert document["bounces"] == [] and document["event_timeline"]["outside_window"] == 0
        assert all(set(hour.values()) - {hour["hour"]} <= {0} for hour in document["event_timeline"]["hours"])
    elif output_format == "csv":
        counts = {
            row.split(",")[1]: row.split(",")[2]
            for row in result.stdout.splitlines()
            if row.startswith("count,")
        }
        assert counts["sent"] == "12" and counts["delivered"] == "0" and counts["opened"] == ""
    else:
        assert any(line.split() == ["delivered", "0", "0.0", "%"] for line in result.output.splitlines())
        assert "bounces:" not in result.output
