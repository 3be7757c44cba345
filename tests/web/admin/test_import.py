"""Importing subscribers in the workspace, through the app: upload, preview, import, progress, report.

The import is the CLI's own (:func:`newsletter.store.imports.import_csv`), so
these tests check what the pages add: nothing is written before the import is
confirmed, the preview shows what reading found, the progress survives a
reload, the report has the CLI's counts and rejected lines, the upload is
private to the session and gone afterwards, and who may do it.
"""

from __future__ import annotations

import html
import io
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from sqlalchemy import Engine, func, select

from newsletter.store.lists import ListRow
from newsletter.store.schema import consent_log, subscribers
from newsletter.store.subscribers import get_subscriber, unsubscribe
from newsletter.web.admin import import_runs
from newsletter.web.security import IMPORT_FILE_LIMIT
from newsletter.workspace.audit import recent_entries
from tests.web.admin.conftest import csrf_of
from tests.web.admin.test_guard import assert_strict
from tests.web.conftest import AppClient, add_member

SignIn = Callable[..., AppClient]
IMPORT = "/admin/lists/erhverv/import"
ROWS: list[list[Any]] = [
    ["E-mail", "Navn", "Virksomhed", "Postnr"],
    ["jens@firma.dk", "Jens Hansen", "Firma ApS", 2750],
    ["ikke-en-adresse", "Bo", "", None],
    ["lise@firma.dk", "Lise", "Lises Lager", 2730],
    ["JENS@firma.dk", "Jens igen", "", None],
    ["gone@firma.dk", "Gone", "", None],
    ["mette@firma.dk", "Mette", "", None],
]


def workbook(rows: list[list[Any]] = ROWS) -> bytes:
    book = openpyxl.Workbook()
    book.active.title = "Medlemmer"
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def people(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(subscribers)).scalar_one())


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def upload(client: AppClient, data: bytes, name: str = "medlemmer.xlsx") -> Any:
    form = client.get(IMPORT)
    assert form.status_code == 200
    return client.post(
        IMPORT,
        data={"csrf_token": csrf_of(form.text)},
        files={"file": (name, data, "application/octet-stream")},
    )


def wait_for_the_end(client: AppClient, page: str) -> None:
    """Poll the progress part as htmx does until its answer asks for the whole page."""
    for _ in range(200):
        answer = client.get(page + "/progress")
        if answer.headers.get("hx-refresh") == "true":
            return
        time.sleep(0.05)
    raise AssertionError("the import did not end")


@pytest.fixture
def gone(engine: Engine, erhverv: ListRow) -> None:
    """gone@firma.dk unsubscribed from the list: an import must not subscribe them again."""
    member = add_member(engine, "gone@firma.dk")
    with engine.begin() as conn:
        unsubscribe(conn, member, erhverv.id, source="one-click")


def test_upload_preview_import_progress_and_report(
    signed_in: SignIn, engine: Engine, gone: None, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = signed_in("admin")
    assert 'href="/admin/lists/erhverv/import"' in admin.get("/admin/lists").text
    sent = upload(admin, workbook())
    assert sent.status_code == 303
    page = sent.headers["location"]
    assert re.fullmatch(r"/admin/lists/erhverv/import/[\w-]{20,}", page)

    # Step 2: what reading found, and nothing written.
    preview = admin.get(page)
    assert preview.status_code == 200
    assert_strict(preview)
    shown = text_of(preview.text)
    assert "Intet er gemt endnu" in shown
    assert "medlemmer.xlsx" in shown and "Excel-projektmappe, arket »Medlemmer«" in shown
    assert "Overskrifter række 1" in shown
    assert "E-mail E-mailadresse Navn Navn Virksomhed Gemmes som egenskab Postnr Gemmes som egenskab" in shown
    assert "2 jens@firma.dk Jens Hansen Virksomhed: Firma ApS Postnr: 2750 læses ind" in shown
    assert "3 springes over 'ikke-en-adresse' er ikke en gyldig e-mailadresse – ret den i filen" in shown
    assert "Række 3: 'ikke-en-adresse' er ikke en gyldig e-mailadresse" in shown
    assert "Række 5: samme adresse som række 2 (JENS@firma.dk) – sprunget over" in shown
    assert "4 rækker med en gyldig e-mailadresse importeres" in shown
    assert "Importér 4 rækker" in shown
    assert people(engine) == 1
    # The upload belongs to this session: another admin cannot see or start it.
    other = signed_in("admin", "chef@kommune.dk")
    assert other.get(page).status_code == 404
    assert other.post(page, data={"csrf_token": csrf_of(other.get(IMPORT).text)}).status_code == 404
    assert people(engine) == 1

    # Step 3: the import runs in the background; hold it after its first chunk to see the progress.
    gate = threading.Event()
    real_import = import_runs.import_csv

    def held(*args: Any, progress: Any, **kwargs: Any) -> Any:
        def after_each_chunk(summary: Any) -> None:
            progress(summary)
            gate.wait(10)

        return real_import(*args, progress=after_each_chunk, chunk_size=1, **kwargs)

    monkeypatch.setattr(import_runs, "import_csv", held)
    started = admin.post(page, data={"csrf_token": csrf_of(preview.text), "consent_note": "Messen 2019"})
    assert started.status_code == 303 and started.headers["location"] == page
    for _ in range(100):
        running = admin.get(page)  # a reload shows where the import is
        if "1 af 4 rækker er behandlet" in text_of(running.text):
            break
        time.sleep(0.05)
    assert "Importerer" in text_of(running.text)
    assert 'hx-get="' + page + '/progress"' in running.text and "Opdatér" in running.text
    assert_strict(running)
    again = admin.post(page, data={"csrf_token": csrf_of(preview.text), "consent_note": "igen"})
    assert again.status_code == 303  # a second click starts nothing
    gate.set()
    wait_for_the_end(admin, page)

    report = admin.get(page)
    assert_strict(report)
    shown = text_of(report.text)
    assert "Færdig" in shown and "Resultat" in shown
    counts = dict(re.findall(r'data-count="([\w-]+)">(\d+)<', report.text))
    assert counts == {
        "added": "3",
        "updated": "0",
        "unchanged": "0",
        "rejected": "1",
        "skipped-suppressed": "0",
        "skipped-unsubscribed": "1",
        "duplicates": "1",
    }
    assert (
        "Tilføjet 3 Opdateret 0 Uændret 0 Afvist 1 Sprunget over: spærret 0 Sprunget over: frameldt 1 Dubletter 1"
        in shown
    )
    assert (
        "Afviste rækker (1) Række 3: 'ikke-en-adresse' er ikke en gyldig e-mailadresse – ret den i filen"
        in shown
    )
    assert "Dubletter (1) Række 5: samme adresse som række 2 (JENS@firma.dk) – sprunget over" in shown
    assert "1 adresser blev ikke tilmeldt igen" in shown
    assert people(engine) == 4
    with engine.connect() as conn:
        jens = get_subscriber(conn, "jens@firma.dk")
        notes = set(conn.execute(select(consent_log.c.consent_text, consent_log.c.source)).all())
        [entry] = recent_entries(conn, action="subscribers.imported")
    assert jens is not None and jens.attributes == {"Virksomhed": "Firma ApS", "Postnr": "2750"}
    assert ("Messen 2019", "import medlemmer.xlsx line 2") in notes
    assert (entry.actor, entry.subject) == ("admin@kommune.dk", "erhverv")
    assert entry.detail["file"] == "medlemmer.xlsx"
    assert (entry.detail["added"], entry.detail["rejected"], entry.detail["skipped-unsubscribed"]) == (
        3,
        1,
        1,
    )
    # The copy of the file is gone; the report stays for this session.
    desk = app.state.admin.imports
    assert desk._folder is not None and list(desk._folder.iterdir()) == []
    assert admin.get(page).status_code == 200


def test_resubscribing_needs_a_consent_note_as_in_the_cli(
    signed_in: SignIn, engine: Engine, gone: None
) -> None:
    admin = signed_in("admin", language="en")
    # Old browsers send the whole path; only the file's own name is shown, audited and logged.
    named = "C:\\Users\\lise\\Skrivebord\\kunder\x1b.csv"
    page = upload(admin, b"email;name\ngone@firma.dk;Gone\nny@firma.dk;Ny\n", named).headers["location"]
    preview = admin.get(page)
    assert "File kunder.csv (1 KB)" in text_of(preview.text) and "Skrivebord" not in preview.text
    assert "CSV, character set UTF-8, separated by semicolons (;)" in text_of(preview.text)
    refused = admin.post(
        page, data={"csrf_token": csrf_of(preview.text), "resubscribe": "yes", "consent_note": " "}
    )
    assert refused.status_code == 400
    assert "Write in the consent note when and how they agreed again" in text_of(refused.text)
    assert 'id="consent_note" name="consent_note"' in refused.text and 'aria-invalid="true"' in refused.text
    assert people(engine) == 1

    admin.post(
        page,
        data={"csrf_token": csrf_of(preview.text), "resubscribe": "yes", "consent_note": "Ringede 3/2"},
    )
    wait_for_the_end(admin, page)
    shown = text_of(admin.get(page).text)
    assert "1 of them were subscribed again with the consent note" in shown
    assert "Added 1 Updated 1 Unchanged 0 Rejected 0" in shown


@pytest.mark.parametrize("role", ["editor", "sender"])
def test_only_admins_may_import(signed_in: SignIn, engine: Engine, erhverv: ListRow, role: str) -> None:
    client = signed_in(role)
    assert client.get(IMPORT).status_code == 403
    token = csrf_of(client.get("/admin/account").text)
    answer = client.post(
        IMPORT, data={"csrf_token": token}, files={"file": ("kunder.csv", b"email\na@firma.dk\n", "text/csv")}
    )
    assert answer.status_code == 403
    assert 'href="/admin/lists/erhverv/import"' not in client.get("/admin/lists").text
    assert people(engine) == 0


def test_an_upload_without_the_csrf_token_is_refused(signed_in: SignIn, engine: Engine, app: Any) -> None:
    admin = signed_in("admin")
    answer = admin.post(IMPORT, files={"file": ("kunder.csv", b"email\na@firma.dk\n", "text/csv")})
    assert answer.status_code == 403
    page = upload(admin, b"email\na@firma.dk\n", "kunder.csv").headers["location"]
    assert admin.post(page, data={"consent_note": "x"}).status_code == 403
    assert admin.post(page, data={"csrf_token": "forged"}).status_code == 403
    assert people(engine) == 0


def test_a_file_too_big_or_not_a_sheet_is_refused_with_one_clear_line(
    signed_in: SignIn, engine: Engine, app: Any
) -> None:
    admin = signed_in("admin")
    desk = app.state.admin.imports
    too_big = upload(admin, b"email\n" + b"a" * IMPORT_FILE_LIMIT, "kæmpe.csv")
    assert too_big.status_code == 413
    assert "Filen er større end 20 MB, og intet er gemt" in text_of(too_big.text)
    assert_strict(too_big)
    form = admin.get(IMPORT)
    far_too_big = admin.post(
        IMPORT,
        data={"csrf_token": csrf_of(form.text)},
        files={"file": ("kæmpe.csv", b"x" * (IMPORT_FILE_LIMIT + 100 * 1024), "text/csv")},
    )
    assert (
        far_too_big.status_code == 413 and "Filen er større end 20 MB, og intet er gemt" in far_too_big.text
    )

    old_excel = upload(admin, bytes.fromhex("d0cf11e0a1b11ae1") + bytes(504), "medlemmer.xls")
    assert old_excel.status_code == 400
    assert (
        "Filen kan ikke bruges, og intet er gemt: det er en gammel Excel-fil (.xls) eller en projektmappe "
        "med adgangskode, som ikke kan læses – åbn den i Excel" in text_of(old_excel.text)
    )
    picture = upload(admin, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x81\x8d\x8f\x90\x9d", "logo.png")
    assert picture.status_code == 400
    assert (
        "linje 3 indeholder byten 0x81, så filen er hverken tekst, der kan læses, eller en Excel-projektmappe"
        in text_of(picture.text)
    )
    nothing = admin.post(IMPORT, data={"csrf_token": csrf_of(form.text)})
    assert nothing.status_code == 400 and "Vælg en fil først" in text_of(nothing.text)
    assert desk._uploads == {} and list(desk._folder.iterdir()) == []
    assert people(engine) == 0


def test_discarding_an_upload_deletes_it_and_an_unknown_one_says_what_to_do(
    signed_in: SignIn, engine: Engine, app: Any
) -> None:
    admin = signed_in("admin")
    page = upload(admin, workbook()).headers["location"]
    preview = admin.get(page)
    back = admin.post(page + "/discard", data={"csrf_token": csrf_of(preview.text)})
    assert back.status_code == 303 and back.headers["location"] == IMPORT
    assert list(app.state.admin.imports._folder.iterdir()) == []
    gone_page = admin.get(page)
    assert gone_page.status_code == 404
    assert "upload filen igen: de rækker, der allerede er gemt, tæller som uændrede" in text_of(
        gone_page.text
    )
    assert admin.get("/admin/lists/kultur/import").status_code == 404
    assert people(engine) == 0
