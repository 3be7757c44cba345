from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import OperationalError

from newsletter.errors import ImportFileError, NotFound, StoreError
from newsletter.store import imports
from newsletter.store.audience import iter_audience
from newsletter.store.imports import import_csv
from newsletter.store.lists import ListRow
from newsletter.store.schema import consent_log, subscribers
from newsletter.store.subscribers import (
    add_subscriber,
    get_subscriber,
    mark_complained,
    set_pending,
    suppress,
    unsubscribe,
)

DATA = Path(__file__).parent / "data"


def count(conn: Connection, table) -> int:  # type: ignore[no-untyped-def]
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def write(tmp_path: Path, text: str, name: str = "people.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_danish_excel_export(engine: Engine, erhverv: ListRow) -> None:
    summary = import_csv(engine, DATA / "danish_excel_cp1252.csv", "erhverv")
    assert (summary.encoding, summary.delimiter) == ("cp1252", ";")
    assert (summary.added, summary.updated, summary.unchanged) == (4, 0, 0)
    assert [(problem.line, problem.reason) for problem in summary.rejected] == [(6, "missing email address")]
    with engine.connect() as conn:
        soeren = get_subscriber(conn, "soeren@aeblegaarden.dk")
        assert soeren is not None
        assert soeren.name == "Søren Ærø"
        assert soeren.attributes == {"Virksomhed": "Æblegården ApS", "Postnr": "2750"}
        birgitte = get_subscriber(conn, "birgitte.løvstrøm@ballerup-bryg.dk")
        assert birgitte is not None and birgitte.email == "Birgitte.Løvstrøm@ballerup-bryg.dk"
        hansen = get_subscriber(conn, "info@koebmand-hansen.dk")
        assert hansen is not None and hansen.attributes["Virksomhed"] == "Købmand Hansen, Skovlunde"
        log = conn.execute(select(consent_log).order_by(consent_log.c.id)).first()
        assert log is not None
        assert (log.action, log.method) == ("subscribe", "import")
        assert log.source == "import danish_excel_cp1252.csv line 2"
        assert log.consent_text == "Ja tak til nyhedsbrevet"


def test_utf8_bom_with_quoted_fields_and_languages(engine: Engine, erhverv: ListRow) -> None:
    summary = import_csv(engine, DATA / "utf8_bom.csv", "erhverv")
    assert (summary.encoding, summary.delimiter, summary.added) == ("utf-8-sig", ",", 3)
    with engine.connect() as conn:
        mette = get_subscriber(conn, "mette@mettes-moebler.dk")
        lars = get_subscriber(conn, "lars@lb-revision.dk")
        assert mette is not None and lars is not None
        assert (mette.name, mette.language, mette.attributes) == (
            "Mette Østergaard",
            "en",
            {"branche": "Møbler"},
        )
        assert (lars.name, lars.language) == ("Lars Bøgh, revisor", "da")


def test_duplicates_differing_in_case_and_space_are_one_person(engine: Engine, erhverv: ListRow) -> None:
    summary = import_csv(engine, DATA / "duplicates_case_space.csv", "erhverv")
    assert summary.added == 2
    assert [(problem.line, problem.reason[:24]) for problem in summary.duplicates] == [
        (3, "same address as line 2 ("),
        (4, "same address as line 2 ("),
    ]
    with engine.connect() as conn:
        assert count(conn, subscribers) == 2
        jens = get_subscriber(conn, "JENS@FIRMA.DK")
        assert jens is not None and jens.name == "Jens"


def test_garbage_rows_are_reported_and_the_rest_imported(engine: Engine, erhverv: ListRow) -> None:
    summary = import_csv(engine, DATA / "garbage_rows.csv", "erhverv")
    reasons = {problem.line: problem.reason for problem in summary.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 10]
    assert "must have an @-sign" in reasons[3]
    assert reasons[4] == "missing email address"
    assert "'to@@firma.dk'" in reasons[5]
    assert reasons[6] == "language 'klingon' is not one of: da, en"
    assert "has 5 fields but the header has 3" in reasons[7]
    assert "SPACE" in reasons[10]
    assert summary.added == 2
    emails = [member.email for member in iter_audience(engine, erhverv.id)]
    assert emails == ["god@firma.dk", "ok@firma.dk"]


def test_rerun_changes_nothing(engine: Engine, erhverv: ListRow) -> None:
    import_csv(engine, DATA / "danish_excel_cp1252.csv", "erhverv")
    with engine.connect() as conn:
        before = (count(conn, subscribers), count(conn, consent_log))
    again = import_csv(engine, DATA / "danish_excel_cp1252.csv", "erhverv")
    assert (again.added, again.updated, again.unchanged) == (0, 0, 4)
    with engine.connect() as conn:
        assert (count(conn, subscribers), count(conn, consent_log)) == before


def test_changed_rows_update_and_empty_cells_keep_stored_values(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    import_csv(engine, write(tmp_path, "email;navn;firma\njens@firma.dk;Jens;Firma A\n"), "erhverv")
    summary = import_csv(engine, write(tmp_path, "email;navn;by\njens@firma.dk;;Ballerup\n"), "erhverv")
    assert (summary.added, summary.updated) == (0, 1)
    with engine.connect() as conn:
        jens = get_subscriber(conn, "jens@firma.dk")
        assert jens is not None
        assert jens.name == "Jens"
        assert jens.attributes == {"firma": "Firma A", "by": "Ballerup"}


def test_pending_sign_up_becomes_subscribed(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    with engine.begin() as conn:
        set_pending(
            conn, "jens@firma.dk", erhverv.id, name=None, language=None, method="form",
            source="", consent_text="", ip=None,
        )  # fmt: skip
    summary = import_csv(engine, write(tmp_path, "email\njens@firma.dk\n"), "erhverv")
    assert summary.updated == 1
    assert [member.email for member in iter_audience(engine, erhverv.id)] == ["jens@firma.dk"]


def test_never_resubscribes_unsubscribed_or_suppressed(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        gone = add_subscriber(conn, "gone@firma.dk", "erhverv")
        unsubscribe(conn, gone.id, erhverv.id, source="one-click")
        angry = add_subscriber(conn, "angry@firma.dk", "erhverv")
        mark_complained(conn, angry.id, "spam report")
        suppress(conn, "erased@firma.dk", "erased")
    sheet = write(tmp_path, "email\nGone@firma.dk\nangry@firma.dk\nerased@FIRMA.dk\nnew@firma.dk\n")
    summary = import_csv(engine, sheet, "erhverv")
    assert (summary.added, summary.skipped_unsubscribed, summary.skipped_suppressed) == (1, 1, 2)
    assert [member.email for member in iter_audience(engine, erhverv.id)] == ["new@firma.dk"]

    with pytest.raises(StoreError, match="--consent-note"):
        import_csv(engine, sheet, "erhverv", resubscribe=True)
    summary = import_csv(engine, sheet, "erhverv", resubscribe=True, consent_note="Bekræftet pr. telefon 2/3")
    assert summary.resubscribed == 3
    assert sorted(member.email for member in iter_audience(engine, erhverv.id)) == [
        "angry@firma.dk",
        "erased@firma.dk",
        "gone@firma.dk",
        "new@firma.dk",
    ]
    with engine.connect() as conn:
        notes = conn.execute(
            select(consent_log.c.consent_text).where(consent_log.c.action == "resubscribe")
        ).scalars()
        assert sorted(notes) == ["Bekræftet pr. telefon 2/3"] * 3


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("no_email_column.csv", None, r"no_email_column.csv:1: no email column .*'navn', 'firma'"),
        ("not_text.csv", None, r"not_text.csv:3: not text in UTF-8 or Windows-1252 \(byte 0x81\)"),
        ("missing.csv", None, "missing.csv: file not found"),
        ("empty.csv", b"", "empty.csv: the file is empty"),
        ("blank.csv", b"\n\n", "blank.csv: the file is empty"),
        ("twice.csv", b"email,name,Email\n", "column 'Email' appears twice"),
        ("broken16.csv", b"\xff\xfee\x00\n\x00\x00\xd8a\x00", r"broken16.csv:2: not text in UTF-16 \(byte"),
    ],
)
def test_unusable_files_fail_whole_and_write_nothing(
    engine: Engine, erhverv: ListRow, tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = DATA / name
    if content is not None:
        path = tmp_path / name
        path.write_bytes(content)
    with pytest.raises(ImportFileError, match=message):
        import_csv(engine, path, "erhverv")
    with engine.connect() as conn:
        assert count(conn, subscribers) == 0


def test_a_folder_is_not_a_file(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    with pytest.raises(ImportFileError, match="is a folder"):
        import_csv(engine, tmp_path, "erhverv")


def test_unknown_list(engine: Engine, erhverv: ListRow) -> None:
    with pytest.raises(NotFound, match="'kultur' does not exist — existing lists: erhverv"):
        import_csv(engine, DATA / "utf8_bom.csv", "kultur")


def test_utf16_and_tab_separated(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    path = write(tmp_path, "E-mail\tNavn\nåse@åstrup.dk\tÅse\n", encoding="utf-16")
    summary = import_csv(engine, path, "erhverv")
    assert (summary.encoding, summary.delimiter, summary.added) == ("utf-16", "\t", 1)


def test_small_chunks_give_the_same_result(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    rows = "".join(f"p{number}@firma.dk\n" for number in range(7)) + "P3@FIRMA.dk\n"
    summary = import_csv(engine, write(tmp_path, "email\n" + rows), "erhverv", chunk_size=2)
    assert (summary.added, len(summary.duplicates)) == (7, 1)
    assert summary.duplicates[0].line == 9
    assert summary.duplicates[0].reason == "same address as line 5 (P3@firma.dk) — skipped"
    assert summary.last_committed_line == 9  # the repeat on the last line is dealt with too


def test_chunks_grow_while_the_import_goes_well(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Committed lines as the progress line shows them: 2 rows, then 4, then 8 (the largest here),
    # each commit of more than 3 rows applied as chunks of at most 3.
    monkeypatch.setattr(imports, "FIRST_COMMIT_ROWS", 2)
    monkeypatch.setattr(imports, "LARGEST_COMMIT_ROWS", 8)
    monkeypatch.setattr(imports, "LARGEST_CHUNK_ROWS", 3)
    applied: list[int] = []
    real_apply = imports._apply_chunk

    def counting(conn, chunk, *rest):  # type: ignore[no-untyped-def]
        applied.append(len(chunk))
        real_apply(conn, chunk, *rest)

    monkeypatch.setattr(imports, "_apply_chunk", counting)
    path = write(tmp_path, "email\n" + "".join(f"p{number}@firma.dk\n" for number in range(25)))
    saved: list[int] = []
    summary = import_csv(
        engine, path, "erhverv", progress=lambda done: saved.append(done.last_committed_line)
    )
    assert saved == [3, 7, 15, 23, 26]
    assert applied == [2, 3, 1, 3, 3, 2, 3, 3, 2, 3]
    assert summary.added == 25
    fixed: list[int] = []
    import_csv(
        engine, path, "erhverv", chunk_size=10, progress=lambda done: fixed.append(done.last_committed_line)
    )
    assert fixed == [11, 21, 26]


def test_a_repeat_chunks_later_names_its_first_line_and_imports_can_follow(
    engine: Engine, erhverv: ListRow, tmp_path: Path
) -> None:
    # Earlier chunks' addresses are kept in the database, not in memory: still found three chunks on.
    rows = "".join(f"p{number}@firma.dk\n" for number in range(7)) + " P1@Firma.DK \np0@firma.dk\n"
    path = write(tmp_path, "email\n" + rows)
    dry = import_csv(engine, path, "erhverv", chunk_size=2, dry_run=True)
    summary = import_csv(engine, path, "erhverv", chunk_size=2)
    for result in (dry, summary):
        assert result.added == 7
        assert [(problem.line, problem.reason) for problem in result.duplicates] == [
            (9, "same address as line 3 (P1@firma.dk) — skipped"),
            (10, "same address as line 2 (p0@firma.dk) — skipped"),
        ]
    again = import_csv(engine, path, "erhverv")  # the same connection may come back from the pool
    assert (again.unchanged, len(again.duplicates)) == (7, 2)


def test_dry_run_saves_nothing(engine: Engine, erhverv: ListRow) -> None:
    summary = import_csv(engine, DATA / "danish_excel_cp1252.csv", "erhverv", dry_run=True, chunk_size=2)
    assert summary.added == 4
    assert summary.describe().startswith("dry run, nothing saved: 4 added")
    with engine.connect() as conn:
        assert count(conn, subscribers) == 0


def test_failure_midway_keeps_committed_chunks_and_rerun_finishes(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "email\n" + "".join(f"p{number}@firma.dk\n" for number in range(6)))
    real_apply = imports._apply_chunk
    calls: list[int] = []

    def failing_second_chunk(conn, chunk, options, summary, *rest):  # type: ignore[no-untyped-def]
        calls.append(len(chunk))
        if len(calls) == 2:
            real_apply(conn, chunk, options, summary, *rest)
            raise OperationalError("INSERT …", {}, Exception("disk I/O error"))
        real_apply(conn, chunk, options, summary, *rest)

    monkeypatch.setattr(imports, "_apply_chunk", failing_second_chunk)
    with pytest.raises(StoreError, match=r"people.csv:4: the database failed .*rows up to line 3 are saved"):
        import_csv(engine, path, "erhverv", chunk_size=2)
    with engine.connect() as conn:
        assert count(conn, subscribers) == 2  # the failing chunk was rolled back whole
    monkeypatch.setattr(imports, "_apply_chunk", real_apply)
    summary = import_csv(engine, path, "erhverv", chunk_size=2)
    assert (summary.added, summary.unchanged) == (4, 2)


def test_a_failure_in_a_later_chunk_of_a_commit_rolls_the_whole_commit_back(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit of several chunks is kept or lost whole, and the summary counts only what was kept."""
    monkeypatch.setattr(imports, "LARGEST_CHUNK_ROWS", 2)
    path = write(tmp_path, "email\n" + "".join(f"p{number}@firma.dk\n" for number in range(8)))
    real_apply = imports._apply_chunk
    calls: list[int] = []
    seen: list[imports.ImportSummary] = []

    def failing_fourth_chunk(conn, chunk, *rest):  # type: ignore[no-untyped-def]
        calls.append(len(chunk))
        real_apply(conn, chunk, *rest)
        if len(calls) == 4:
            raise OperationalError("INSERT …", {}, Exception("disk I/O error"))

    monkeypatch.setattr(imports, "_apply_chunk", failing_fourth_chunk)
    with pytest.raises(StoreError, match=r"people.csv:8: the database failed .*rows up to line 5 are saved"):
        import_csv(engine, path, "erhverv", chunk_size=4, progress=lambda done: seen.append(done))
    assert [(done.last_committed_line, done.added) for done in seen] == [(5, 4)]
    with engine.connect() as conn:
        assert count(conn, subscribers) == count(conn, consent_log) == 4  # lines 6 and 7 went back too


def test_a_repeat_in_a_later_chunk_of_the_first_commit_is_a_duplicate(
    engine: Engine, erhverv: ListRow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nothing is committed yet when the second chunk looks its addresses up: the first chunk's are
    # still seen, in the same transaction.
    monkeypatch.setattr(imports, "LARGEST_CHUNK_ROWS", 2)
    path = write(tmp_path, "email\np0@firma.dk\np1@firma.dk\nP0@firma.dk\np2@firma.dk\n")
    summary = import_csv(engine, path, "erhverv")
    assert (summary.added, summary.unchanged) == (3, 0)
    assert [(problem.line, problem.reason) for problem in summary.duplicates] == [
        (4, "same address as line 2 (P0@firma.dk) — skipped")
    ]


def test_resubscribe_requires_a_note_and_method_must_be_known(engine: Engine, erhverv: ListRow) -> None:
    with pytest.raises(StoreError, match="consent method"):
        import_csv(engine, DATA / "utf8_bom.csv", "erhverv", method="carrier-pigeon")


def test_demo_sample_imports_cleanly(engine: Engine, erhverv: ListRow) -> None:
    sample = Path(__file__).resolve().parents[2] / "samples" / "subscribers.csv"
    summary = import_csv(engine, sample, "erhverv")
    assert (summary.added, summary.rejected, summary.duplicates) == (10, [], [])
    with engine.connect() as conn:
        bjoern = get_subscriber(conn, "bjoern@herlev-it.example.dk")
        assert bjoern is not None
        assert (bjoern.name, bjoern.language) == ("Bjørn Nielsen", "en")
        assert bjoern.attributes == {"Virksomhed": "Herlev IT-Service", "Branche": "IT"}


def test_excel_separator_hint_and_danish_headers(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    sheet = (
        "sep=,\nE-mail adresse,Fulde navn,Sprog,Postnr\njens@firma.dk,Jens Hansen,engelsk,2750\nugyldig,X,,\n"
    )
    summary = import_csv(engine, write(tmp_path, sheet, encoding="cp1252"), "erhverv")
    assert (summary.delimiter, summary.added) == (",", 1)
    # Line numbers count the hint line, as an editor shows them.
    assert [problem.line for problem in summary.rejected] == [4]
    with engine.connect() as conn:
        jens = get_subscriber(conn, "jens@firma.dk")
        assert jens is not None
        assert (jens.name, jens.language, jens.attributes) == ("Jens Hansen", "en", {"Postnr": "2750"})


def test_oversized_field_is_one_rejected_row(engine: Engine, erhverv: ListRow, tmp_path: Path) -> None:
    huge = '"' + "x" * 200_000 + '"'
    sheet = f"email,name\nfoer@firma.dk,Før\nstor@firma.dk,{huge}\nefter@firma.dk,Efter\n"
    summary = import_csv(engine, write(tmp_path, sheet), "erhverv")
    assert [(problem.line, problem.reason[:13]) for problem in summary.rejected] == [(3, "not valid CSV")]
    assert [member.email for member in iter_audience(engine, erhverv.id)] == [
        "foer@firma.dk",
        "efter@firma.dk",
    ]
