"""Import subscribers into a list from a CSV file or an Excel workbook (admins): upload, look, import, report.

Routes (every one guarded by ``subscribers.manage``):

- ``GET|POST /admin/lists/{name}/import``                 step 1: choose a file; the upload is kept
  aside (:mod:`.import_runs`) and read at once, so a file that cannot be used is refused right here
- ``GET  /admin/lists/{name}/import/{upload}``            step 2: what reading the file found — format,
  encoding and separator or sheet, the columns and their roles, the first rows as they will be read,
  the rows left out; then, once started, the import's progress and finally its report
- ``POST /admin/lists/{name}/import/{upload}``            step 3: import, with a consent note and
  "resubscribe" only as the CLI allows them
- ``GET  /admin/lists/{name}/import/{upload}/progress``   the numbers alone, for htmx to poll
- ``POST /admin/lists/{name}/import/{upload}/discard``    forget the upload and choose another file

Reading is :func:`newsletter.store.imports.preview_sheet` and importing
:func:`newsletter.store.imports.import_csv` — exactly what ``newsletter
subscribers import`` does, so the report has the CLI's counts and the same
rejected lines. Nothing is written to the store before step 3. An import is
audited as ``subscribers.imported`` when it ends, with the file's name and
the counts.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import ImportFileError, NotFound
from newsletter.store.csv_reader import ENCODING_NAMES
from newsletter.store.imports import SheetPreview, preview_sheet
from newsletter.store.lists import ListRow, get_list
from newsletter.store.workbook import XLSX
from newsletter.web.admin.guard import Visitor, admin_state, field, guarded, message, render, see_other
from newsletter.web.admin.import_runs import ImportRun, Upload
from newsletter.web.admin.library_words import library_text
from newsletter.web.admin.sending import number_text, utc_text
from newsletter.web.admin.words import admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.security import IMPORT_FILE_LIMIT
from newsletter.workspace.audit import Actor
from newsletter.workspace.people import record_import

LISTS = "/admin/lists"
# The numbers of a running import are fetched again this often (htmx).
POLL_SECONDS = 2
# Rows shown on the preview, and rejected lines listed on the preview and the report.
PREVIEW_ROWS = 10
LISTED_PROBLEMS = 200
MAX_CONSENT_NOTE = 500


def import_url(list_name: str) -> str:
    return f"{LISTS}/{quote(list_name, safe='')}/import"


def upload_url(list_name: str, upload_id: str) -> str:
    return f"{import_url(list_name)}/{upload_id}"


def _the_list(context: WebContext, name: str) -> ListRow | None:
    with context.read() as conn:
        try:
            return get_list(conn, name)
        except NotFound:
            return None


async def _list_or_none(request: Request) -> ListRow | None:
    return await in_thread(_the_list, web(request), request.path_params["name"])


def _not_found(request: Request, visitor: Visitor) -> Response:
    return message(
        request, visitor.lang, 404, "not_found_title", "not_found_body", visitor=visitor, link=LISTS
    )


def _upload_page(
    request: Request, visitor: Visitor, the_list: ListRow, *, status_code: int = 200, **values: Any
) -> Response:
    return render(
        request,
        "admin/import_upload.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        the_list=the_list,
        action=import_url(the_list.name),
        limit_mb=IMPORT_FILE_LIMIT // (1024 * 1024),
        **values,
    )


# --- step 1: the file ------------------------------------------------------------------------------


@guarded("subscribers.manage")
async def upload_form(request: Request, visitor: Visitor, form: FormData) -> Response:
    the_list = await _list_or_none(request)
    if the_list is None:
        return _not_found(request, visitor)
    return _upload_page(request, visitor, the_list)


def _file_name(uploaded: str) -> str:
    """The uploaded file's own name, as shown, audited and logged: no folders, no control characters."""
    name = "".join(ch for ch in uploaded.replace("\\", "/").rsplit("/", 1)[-1] if ch.isprintable())
    return name.strip()[:200] or "file"


def _read(upload: Upload) -> SheetPreview:
    return preview_sheet(upload.path, PREVIEW_ROWS, file_name=upload.file_name)


@guarded("subscribers.manage", upload=True)
async def upload_file(request: Request, visitor: Visitor, form: FormData) -> Response:
    the_list = await _list_or_none(request)
    if the_list is None:
        return _not_found(request, visitor)
    chosen = form.get("file")
    mb = IMPORT_FILE_LIMIT // (1024 * 1024)
    try:
        if not isinstance(chosen, UploadFile) or not chosen.filename:
            return _upload_page(request, visitor, the_list, status_code=400, error="import_no_file")
        data = await chosen.read(IMPORT_FILE_LIMIT + 1)
        file_name = _file_name(chosen.filename)
    finally:
        await form.close()  # Starlette's spooled copy goes now, not at garbage collection
    if len(data) > IMPORT_FILE_LIMIT:
        return _upload_page(
            request, visitor, the_list, status_code=413, error="import_too_large", error_values={"mb": mb}
        )
    desk = admin_state(request).imports
    upload = await in_thread(desk.keep, visitor.session.id, the_list.name, file_name, data)
    try:
        upload.preview = await in_thread(_read, upload)
    except ImportFileError as exc:
        desk.discard(upload)
        return _upload_page(
            request,
            visitor,
            the_list,
            status_code=400,
            error="import_unusable",
            error_values={"error": library_text(visitor.lang)(exc.wording, exc.message)},
        )
    return see_other(upload_url(the_list.name, upload.id))


# --- step 2 and after: the preview, then the progress and the report ------------------------------


def _upload_of(request: Request, visitor: Visitor) -> Upload | None:
    return admin_state(request).imports.get(
        request.path_params["upload"], visitor.session.id, request.path_params["name"]
    )


def _gone(request: Request, visitor: Visitor) -> Response:
    the_list = request.path_params["name"]
    return message(
        request,
        visitor.lang,
        404,
        "import_gone_title",
        "import_gone_body",
        visitor=visitor,
        link=import_url(the_list),
    )


def _read_as(preview: SheetPreview, t: Any) -> str:
    info = preview.info
    if info.kind == XLSX:
        return str(t("import_read_xlsx", sheet=info.sheet))
    if info.delimiter in (";", ","):
        separator = t("import_sep_" + info.delimiter)
    elif info.delimiter == "\t":
        separator = t("import_sep_tab")
    else:
        separator = t("import_sep_other", separator=info.delimiter)
    return str(
        t("import_read_csv", encoding=ENCODING_NAMES.get(info.encoding, info.encoding), separator=separator)
    )


def _page_values(request: Request, visitor: Visitor, upload: Upload) -> dict[str, Any]:
    preview = upload.preview
    assert preview is not None
    run = upload.run
    lang = visitor.lang
    page = upload_url(upload.list_name, upload.id)
    problems = sorted(preview.info.rejected + preview.info.duplicates, key=lambda problem: problem.line)
    return {
        "upload": upload,
        "preview": preview,
        "info": preview.info,
        "lines": "xlsx" if preview.info.kind == XLSX else "csv",
        "run": run,
        "state": _state(run),
        "summary": run.summary if run is not None else None,
        "problems": problems[:LISTED_PROBLEMS],
        "more_problems": max(0, len(problems) - LISTED_PROBLEMS),
        "rows_text": number_text(preview.rows, lang),
        "done_text": number_text(run.done, lang) if run is not None else "",
        "total_text": number_text(run.total, lang) if run is not None else "",
        "size_kb": number_text(max(1, round(upload.size / 1024)), lang),
        "page_url": page,
        "fragment_url": page + "/progress",
        "discard_url": page + "/discard",
        "lists_url": LISTS,
        "again_url": import_url(upload.list_name),
        "poll_seconds": POLL_SECONDS,
        "utc": utc_text,
        "max_consent": MAX_CONSENT_NOTE,
        "listed": LISTED_PROBLEMS,
        "read_as": _read_as(preview, admin_translator(lang)),
    }


def _state(run: ImportRun | None) -> str:
    if run is None:
        return "preview"
    if run.alive:
        return "running"
    return "stopped" if run.failure else "done"


def _page(
    request: Request, visitor: Visitor, upload: Upload, *, status_code: int = 200, **values: Any
) -> Response:
    template = "admin/import_preview.html" if upload.run is None else "admin/import_run.html"
    return render(
        request,
        template,
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        **_page_values(request, visitor, upload),
        **values,
    )


@guarded("subscribers.manage")
async def upload_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    upload = _upload_of(request, visitor)
    if upload is None or upload.preview is None:
        return _gone(request, visitor)
    return _page(request, visitor, upload, typed={"consent_note": "", "resubscribe": False})


@guarded("subscribers.manage")
async def progress_fragment(request: Request, visitor: Visitor, form: FormData) -> Response:
    """The numbers alone, for htmx to swap in while they move; the whole page again once it ended."""
    upload = _upload_of(request, visitor)
    if upload is None or upload.preview is None or upload.run is None:
        return _gone(request, visitor)
    response = render(
        request,
        "admin/_import_progress.html",
        visitor.lang,
        visitor=visitor,
        **_page_values(request, visitor, upload),
    )
    if not upload.run.alive:
        response.headers["HX-Refresh"] = "true"
    return response


# --- step 3: import --------------------------------------------------------------------------------


def _audit_when_ended(context: WebContext, actor: Actor) -> Any:
    def audit(upload: Upload, run: ImportRun) -> None:
        with context.write() as conn:
            record_import(
                conn,
                actor,
                upload.list_name,
                upload.file_name,
                run.summary,
                resubscribe=run.resubscribe,
                rows=run.total,
                failure=run.failure,
            )

    return audit


@guarded("subscribers.manage")
async def start_import(request: Request, visitor: Visitor, form: FormData) -> Response:
    upload = _upload_of(request, visitor)
    if upload is None or upload.preview is None:
        return _gone(request, visitor)
    page = upload_url(upload.list_name, upload.id)
    if upload.run is not None:  # a second click, or the form sent again: the import runs once
        return see_other(page)
    consent_note = field(form, "consent_note", MAX_CONSENT_NOTE).strip()
    resubscribe = field(form, "resubscribe", 3) == "yes"
    typed = {"consent_note": consent_note, "resubscribe": resubscribe}
    if resubscribe and not consent_note:
        return _page(
            request,
            visitor,
            upload,
            status_code=400,
            error="import_error_consent_needed",
            error_field="consent_note",
            typed=typed,
        )
    if not upload.preview.rows:
        return see_other(page)
    context = web(request)
    admin_state(request).imports.start(
        context.engine,
        upload,
        resubscribe=resubscribe,
        consent_note=consent_note,
        started_by=visitor.user.email,
        on_end=_audit_when_ended(context, visitor.actor()),
    )
    return see_other(page)


@guarded("subscribers.manage")
async def discard_upload(request: Request, visitor: Visitor, form: FormData) -> Response:
    upload = _upload_of(request, visitor)
    if upload is not None:
        admin_state(request).imports.discard(upload)
    return see_other(import_url(request.path_params["name"]))


IMPORT = LISTS + "/{name}/import"
routes = [
    Route(IMPORT, upload_form, methods=["GET"]),
    Route(IMPORT, upload_file, methods=["POST"]),
    Route(IMPORT + "/{upload}", upload_page, methods=["GET"]),
    Route(IMPORT + "/{upload}", start_import, methods=["POST"]),
    Route(IMPORT + "/{upload}/progress", progress_fragment, methods=["GET"]),
    Route(IMPORT + "/{upload}/discard", discard_upload, methods=["POST"]),
]
