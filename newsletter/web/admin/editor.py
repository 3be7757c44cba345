"""New issue and Edit: an issue started from a form, then written in a Markdown editor beside its live preview.

Routes (every one guarded; ``issue.draft`` changes files, ``issue.preview`` only looks):

- ``GET|POST /admin/issues/new``                   the form; creates ``issues/<date>-<slug>.md``
  with :func:`newsletter.scaffold.create_issue`, as ``newsletter new`` does
- ``GET|POST /admin/issues/{slug}/edit``           the editor; a POST saves (a plain form, no script needed)
- ``POST /admin/issues/{slug}/autosave``           the editor's script keeps a draft (JSON)
- ``POST /admin/issues/{slug}/discard-draft``      throws the draft away
- ``POST /admin/issues/{slug}/preview``            renders the text being typed (JSON: frame address,
  check findings as HTML, the plain-text part)
- ``GET  /admin/issues/{slug}/preview/{name}``     the rendered email for the frames, with its own CSP
- ``GET|POST /admin/issues/{slug}/images…``        the issue's images for the preview; an upload

Saving, drafts and conflicts are :mod:`newsletter.editing`'s; the preview is
the preview server's own :func:`~newsletter.preview.snapshot.snapshot_of` on
:func:`~newsletter.issue.parse_issue` of the unsaved text; images are
:mod:`newsletter.images`'. Every file written is audited with the user as actor.

The preview frames load the email from a route of its own because the email
is full of inline styles, which the workspace's CSP forbids on its pages (a
``srcdoc`` or blob frame would inherit that CSP). That route's answer carries
:data:`PREVIEW_CSP`: styles inline, images, nothing else, and ``sandbox``, so
no script in it could run even if one got in; the frames are sandboxed too.
"""

from __future__ import annotations

import datetime
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup, escape
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from newsletter.assets import MAX_UPLOAD_BYTES, AssetProblem, image_name, issue_folder, media_type, read_image
from newsletter.checks.core import Finding
from newsletter.checks.files import unrenderable
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.config import LANGUAGES, Settings
from newsletter.editing import (
    CONFLICT,
    DRAFT,
    MAX_TEXT_CHARS,
    SAVED,
    UNCHANGED,
    Draft,
    EditError,
    Saved,
    autosave,
    discard_draft,
    forget_stale_draft,
    issue_path,
    normalised,
    open_issue,
    save,
)
from newsletter.errors import IssueError, NewsletterError, RenderError
from newsletter.images import MAX_WIDTH_PX, ImageRefused, alt_text, image_markdown, prepare_image, store_image
from newsletter.issue import parse_issue
from newsletter.preview.snapshot import snapshot_of, with_local_images
from newsletter.render import available_templates
from newsletter.scaffold import IssueExists, NewIssue, NewIssueProblem, create_issue
from newsletter.web.admin.guard import HOME, Visitor, admin_state, field, guarded, message, render, see_other
from newsletter.web.admin.library_words import library_text
from newsletter.web.admin.previews import PreviewDocument, PreviewStore
from newsletter.web.admin.words import admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace.audit import record

ISSUES = "/admin/issues/"
NEW = ISSUES + "new"
# The rendered email in the preview frames: its inline styles and images, nothing else; no script can run.
PREVIEW_CSP = (
    "sandbox allow-same-origin; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' https: data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
PREVIEW_HEADERS = {
    "Content-Security-Policy": PREVIEW_CSP,
    "X-Frame-Options": "SAMEORIGIN",
    # Named by its content and readable by its user only: both frames load it once.
    "Cache-Control": "private, max-age=600",
}
FRAME_WIDTHS = (600, 375)
_NOTICES = {
    "created": "notice_created",
    "saved": "notice_saved",
    "unchanged": "notice_unchanged",
    "discarded": "notice_draft_discarded",
    "not-discarded": "notice_draft_not_discarded",
}
_FIELD_LABELS = {"subject": "field_subject", "preheader": "field_preheader", "kicker": "field_kicker"}


def edit_url(slug: str) -> str:
    return f"{ISSUES}{slug}/edit"


def _utc(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _text(form: FormData) -> str:
    """The editor's text, whole (never cut: a cut issue would be saved as if it were complete)."""
    value = form.get("text")
    return value if isinstance(value, str) else ""


async def _audit(request: Request, visitor: Visitor, action: str, slug: str, detail: dict[str, Any]) -> None:
    context = web(request)

    def write() -> None:
        with context.write() as conn:
            record(conn, visitor.actor(), action, slug, detail)

    await context.in_writer(write)


# --- the preview ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EditorPreview:
    """What the editor shows of a text: the frames' document ("" when it does not render), checks, parts."""

    document: str
    subject: str
    preheader: str
    text: str
    findings: list[Finding]


def editor_preview(
    settings: Settings, previews: PreviewStore, user_id: int, path: Path, text: str
) -> EditorPreview:
    """Render ``text`` as the issue ``path`` with the preview's renderer, and keep the email for the frames."""
    slug = path.stem
    try:
        snapshot = snapshot_of(parse_issue(path, text, settings), settings)
    except (IssueError, RenderError) as exc:
        return EditorPreview("", "", "", "", unrenderable(exc))
    except NewsletterError as exc:  # e.g. a template's unknown merge placeholder
        problem = CHECK_TEXTS("template-error", problem=str(exc))
        return EditorPreview("", "", "", "", [Finding.worded("error", problem, str(path))])
    html = with_local_images(snapshot, lambda _number, file: f"{ISSUES}{slug}/images/{quote(file.name)}")
    name = previews.put(PreviewDocument(user_id, slug, html))
    findings = sorted(snapshot.findings, key=lambda f: (f.severity != "error", f.line or 0))
    return EditorPreview(
        f"{ISSUES}{slug}/preview/{name}", snapshot.subject, snapshot.preheader, snapshot.text, findings
    )


async def _preview(request: Request, visitor: Visitor, path: Path, text: str) -> EditorPreview:
    context = web(request)
    return await in_thread(
        editor_preview, context.settings, admin_state(request).previews, visitor.user.id, path, text
    )


def findings_html(request: Request, visitor: Visitor, path: Path, findings: list[Finding]) -> str:
    """The findings list as the page shows it: one template for the page and for the script's updates."""
    return (
        web(request)
        .pages.get_template("admin/_findings.html")
        .render(
            t=admin_translator(visitor.lang),
            library_text=library_text(visitor.lang),
            findings=findings,
            issue_file=str(path),
        )
    )


# --- New issue -----------------------------------------------------------------------------------


def _template_choices(settings: Settings, lang: str) -> list[tuple[str, str]]:
    t = admin_translator(lang)
    labels = {"holiday": t("template_holiday"), "newsletter": t("template_newsletter")}
    return [
        (name, labels.get(name) or t("template_own", name=name)) for name in available_templates(settings)
    ]


def _new_page(
    request: Request,
    visitor: Visitor,
    typed: dict[str, str],
    *,
    status_code: int = 200,
    error: str = "",
    error_values: dict[str, Any] | None = None,
    error_field: str = "",
    existing: str = "",
) -> Response:
    settings = web(request).settings
    return render(
        request,
        "admin/issue_new.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        templates=_template_choices(settings, visitor.lang),
        languages=LANGUAGES,
        typed=typed,
        error=error,
        error_values=error_values or {},
        error_field=error_field,
        existing=edit_url(existing) if existing else "",
        existing_file=f"{existing}.md",
    )


@guarded("issue.draft")
async def new_issue_form(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    typed = {
        "template": settings.template,
        "language": settings.language,
        "date": datetime.date.today().isoformat(),
    }
    return _new_page(request, visitor, typed)


def _create(context: WebContext, new: NewIssue) -> Path:
    path = create_issue(new, context.settings)
    forget_stale_draft(context.settings, path.stem)
    return path


@guarded("issue.draft")
async def create_new_issue(request: Request, visitor: Visitor, form: FormData) -> Response:
    typed = {
        name: field(form, name, 500)
        for name in ("template", "subject", "preheader", "kicker", "language", "date")
    }
    t = admin_translator(visitor.lang)
    try:
        day = datetime.date.fromisoformat(typed["date"].strip())
    except ValueError:
        return _new_page(
            request, visitor, typed, status_code=400, error="new_date_invalid", error_field="date"
        )
    new = NewIssue(
        subject=typed["subject"],
        date=day,
        template=typed["template"],
        lang=typed["language"],
        preheader=typed["preheader"],
        kicker=typed["kicker"],
    )
    context = web(request)
    try:
        path = await in_thread(_create, context, new)
    except NewIssueProblem as exc:
        if exc.reason == "not_one_line":
            key, values = "new_not_one_line", {"field": t(_FIELD_LABELS[exc.field])}
        else:
            key, values = f"new_{exc.field}_{exc.reason}", {}
        field_name = "language" if exc.field == "lang" else exc.field
        return _new_page(
            request, visitor, typed, status_code=400, error=key, error_values=values, error_field=field_name
        )
    except IssueExists as exc:
        return _new_page(
            request,
            visitor,
            typed,
            status_code=409,
            error="new_exists",
            error_values={"file": f"{exc.slug}.md"},
            error_field="subject",
            existing=exc.slug,
        )
    await _audit(request, visitor, "issue.created", path.stem, {"template": new.template, "lang": new.lang})
    return see_other(edit_url(path.stem) + "?" + urlencode({"done": "created"}))


# --- Edit ----------------------------------------------------------------------------------------


def toolbar(lang: str) -> list[dict[str, str]]:
    """The toolbar's buttons: what each inserts at the cursor, and which words it selects to type over."""
    t = admin_translator(lang)
    heading, text = t("snippet_heading"), t("snippet_text")
    column = f"::: column\n### {t('snippet_column_heading')}\n\n{text}\n:::\n"
    return [
        {"key": "section", "snippet": f"## {heading}\n\n{text}\n", "select": heading},
        # An address left as https:// is an error the checks point at, so the link is not forgotten.
        {
            "key": "button",
            "snippet": f"::: button\n[{t('snippet_button')}](https://)\n:::\n",
            "select": "https://",
        },
        {"key": "columns", "snippet": f"{column}\n{column}", "select": t("snippet_column_heading")},
        {
            "key": "greeting",
            "snippet": f"::: greeting\n{t('snippet_greeting')}\n:::\n",
            "select": t("snippet_greeting"),
        },
        {
            "key": "signature",
            "snippet": f"::: signature\n{t('snippet_signoff')}\n{t('snippet_name')}\n:::\n",
            "select": t("snippet_name"),
        },
    ]


def conflict_diff(theirs: str, mine: str, lang: str) -> list[tuple[str, str]]:
    """A unified diff from their text to this person's, each line with its kind (add, del, hunk, same)."""
    t = admin_translator(lang)
    lines = difflib.unified_diff(
        theirs.splitlines(), mine.splitlines(), t("conflict_theirs"), "…", lineterm="", n=2
    )
    shown = []
    for line in lines:
        if line.startswith(("+++", "---")):
            continue
        kind = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "same")
        shown.append((kind, line))
    return shown


async def _editor(
    request: Request,
    visitor: Visitor,
    path: Path,
    *,
    text: str,
    version: str,
    draft_version: str,
    notices: list[tuple[str, dict[str, Any]]] | None = None,
    error: str = "",
    error_values: dict[str, Any] | None = None,
    conflict: Saved | None = None,
    status_code: int = 200,
) -> Response:
    preview = await _preview(request, visitor, path, text)
    slug = path.stem
    return render(
        request,
        "admin/issue_edit.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        slug=slug,
        file=path.name,
        action=edit_url(slug),
        text=text,
        version=version,
        draft_version=draft_version,
        notices=notices or [],
        error=error,
        error_values=error_values or {},
        conflict=conflict,
        conflict_by=conflict.theirs_by if conflict else "",
        conflict_at=_utc(conflict.theirs_at) if conflict and conflict.theirs_at else "",
        diff=conflict_diff(conflict.theirs, text, visitor.lang) if conflict else [],
        preview=preview,
        findings=Markup(findings_html(request, visitor, path, preview.findings)),
        frame_widths=FRAME_WIDTHS,
        toolbar=toolbar(visitor.lang),
        upload_mb=MAX_UPLOAD_BYTES // (1024 * 1024),
        image_width=MAX_WIDTH_PX,
    )


def _draft_notice(draft: Draft) -> tuple[str, dict[str, Any]]:
    return "notice_draft_open", {"who": draft.saved_by, "at": _utc(draft.saved_at)}


async def _refused(request: Request, visitor: Visitor, exc: EditError) -> Response:
    """The answer for an issue that cannot be opened: 404 for a missing one, a page saying why otherwise."""
    if exc.reason == "missing":
        return message(
            request, visitor.lang, 404, "not_found_title", "not_found_body", visitor=visitor, link=HOME
        )
    key = {"not_utf8": "error_not_utf8", "drafts_link": "error_drafts_link"}.get(
        exc.reason, "error_text_too_long"
    )
    return render(
        request,
        "admin/message.html",
        visitor.lang,
        visitor=visitor,
        status_code=413 if exc.reason == "too_long" else 400,
        heading="edit_refused_title",
        body=key,
        body_values={"file": request.path_params.get("slug", "") + ".md", "limit": MAX_TEXT_CHARS},
        link=HOME,
    )


@guarded("issue.draft")
async def edit_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    try:
        opened = await in_thread(open_issue, settings, request.path_params["slug"])
    except EditError as exc:
        return await _refused(request, visitor, exc)
    notices: list[tuple[str, dict[str, Any]]] = []
    done = request.query_params.get("done", "")
    if done in _NOTICES:
        notices.append((_NOTICES[done], {"file": opened.path.name}))
    elif done == "image":
        name = request.query_params.get("image", "")
        width = request.query_params.get("scaled", "")
        scaled = admin_translator(visitor.lang)("image_scaled", width=width) if width.isdigit() else ""
        markdown = image_markdown(request.query_params.get("alt", ""), name)
        notices.append(("notice_image_added", {"name": name, "scaled": scaled, "markdown": markdown}))
    if opened.draft is not None:
        notices.append(_draft_notice(opened.draft))
    return await _editor(
        request,
        visitor,
        opened.path,
        text=opened.text,
        version=opened.base_version,
        draft_version=opened.draft_version,
        notices=notices,
    )


@guarded("issue.draft")
async def save_issue(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    slug = request.path_params["slug"]
    text = _text(form)
    try:
        path = issue_path(settings, slug)
        result = await in_thread(
            lambda: save(
                settings,
                slug,
                text,
                version=field(form, "version", 64),
                draft_version=field(form, "draft", 64),
                by=visitor.user.email,
            )
        )
    except EditError as exc:  # the text stays in the browser: its back button returns to it
        return await _refused(request, visitor, exc)
    if result.outcome == SAVED:
        await _audit(request, visitor, "issue.saved", slug, {"version": result.version[:12]})
        return see_other(edit_url(slug) + "?" + urlencode({"done": "saved"}))
    if result.outcome == UNCHANGED:
        return see_other(edit_url(slug) + "?" + urlencode({"done": "unchanged"}))
    if result.outcome == DRAFT:
        problem = result.problem
        detail: dict[str, Any] = {
            "kept_as": "draft",
            "problem": problem.code if problem else "",
            "line": problem.line if problem else None,
        }
        await _audit(request, visitor, "issue.edited", slug, detail)
        return await _editor(
            request,
            visitor,
            path,
            text=normalised(text),
            version=result.version,
            draft_version=result.draft_version,
            notices=[("notice_draft_kept", {})],
        )
    assert result.outcome == CONFLICT
    return await _editor(
        request,
        visitor,
        path,
        text=normalised(text),
        version=result.version,
        draft_version=result.draft_version,
        error="conflict_draft" if result.theirs_kind == "draft" else "conflict_file",
        error_values={"who": result.theirs_by, "at": _utc(result.theirs_at) if result.theirs_at else ""},
        conflict=result,
        status_code=409,
    )


@guarded("issue.draft")
async def autosave_draft(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    slug = request.path_params["slug"]
    draft_before = field(form, "draft", 64)
    try:
        result = await in_thread(
            lambda: autosave(
                settings,
                slug,
                _text(form),
                version=field(form, "version", 64),
                draft_version=draft_before,
                by=visitor.user.email,
            )
        )
    except EditError as exc:
        status = 404 if exc.reason == "missing" else 413 if exc.reason == "too_long" else 400
        return JSONResponse({"outcome": "refused", "reason": exc.reason}, status_code=status)
    if result.outcome == DRAFT and not draft_before:  # a draft begun: audited once, not every 20 seconds
        await _audit(request, visitor, "issue.edited", slug, {"kept_as": "draft", "autosave": True})
    return JSONResponse(
        {"outcome": result.outcome, "version": result.version, "draft": result.draft_version},
        status_code=409 if result.outcome == CONFLICT else 200,
    )


@guarded("issue.draft")
async def discard(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    slug = request.path_params["slug"]
    try:
        discarded = await in_thread(discard_draft, settings, slug, field(form, "draft", 64))
    except EditError as exc:
        return await _refused(request, visitor, exc)
    if discarded:
        await _audit(request, visitor, "issue.draft_discarded", slug, {})
    return see_other(
        edit_url(slug) + "?" + urlencode({"done": "discarded" if discarded else "not-discarded"})
    )


@guarded("issue.preview")
async def render_preview(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    try:
        path = issue_path(settings, request.path_params["slug"])
    except EditError:
        return JSONResponse({"reason": "missing"}, status_code=404)
    text = _text(form)
    if len(text) > MAX_TEXT_CHARS:
        return JSONResponse({"reason": "too_long"}, status_code=413)
    preview = await _preview(request, visitor, path, text)
    return JSONResponse(
        {
            "document": preview.document,
            "subject": preview.subject,
            "preheader": preview.preheader,
            "text": preview.text,
            "findings": findings_html(request, visitor, path, preview.findings),
        }
    )


@guarded("issue.preview")
async def preview_document(request: Request, visitor: Visitor, form: FormData) -> Response:
    slug, name = request.path_params["slug"], request.path_params["name"]
    found = admin_state(request).previews.get(name, visitor.user.id, slug)
    if found is not None:
        return HTMLResponse(found.html, headers=PREVIEW_HEADERS)
    words = escape(admin_translator(visitor.lang)("preview_expired"))
    page = f'<!doctype html><html lang="{visitor.lang}"><meta charset="utf-8"><title>{words}</title><p>{words}</p></html>'
    return HTMLResponse(page, status_code=404, headers={**PREVIEW_HEADERS, "Cache-Control": "no-store"})


# --- images --------------------------------------------------------------------------------------


@guarded("issue.preview")
async def issue_image(request: Request, visitor: Visitor, form: FormData) -> Response:
    """An image of the issue's folder, for the preview (published ones are served by the public site)."""
    settings = web(request).settings
    slug = request.path_params["slug"]
    try:
        folder = issue_folder(issue_path(settings, slug))
        name = image_name(request.path_params["name"], slug)
        data = await in_thread(read_image, folder / name)
    except (EditError, AssetProblem):
        return Response("Not found\n", status_code=404, media_type="text/plain")
    return Response(
        data, media_type=media_type(folder / name), headers={"Cache-Control": "private, no-cache"}
    )


def _store(path: Path, uploaded_name: str, data: bytes) -> tuple[str, int, bool]:
    prepared = prepare_image(data)
    return store_image(issue_folder(path), uploaded_name, prepared), prepared.width, prepared.scaled


@guarded("issue.draft", upload=True)
async def upload_image(request: Request, visitor: Visitor, form: FormData) -> Response:
    settings = web(request).settings
    slug = request.path_params["slug"]
    wants_json = "application/json" in request.headers.get("accept", "")
    try:
        path = issue_path(settings, slug)
    except EditError as exc:
        return await _refused(request, visitor, exc)
    upload = form.get("image")
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ImageRefused("no_file", "no file was chosen")
        alt = alt_text(field(form, "alt", 2000))
        try:
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
        finally:
            await form.close()  # a spooled temporary file goes now, not at garbage collection
        name, width, scaled = await in_thread(_store, path, upload.filename, data)
    except ImageRefused as exc:
        key = f"image_{exc.reason}"
        values = {"mb": MAX_UPLOAD_BYTES // (1024 * 1024), "width": MAX_WIDTH_PX}
        if wants_json:
            return JSONResponse({"error": admin_translator(visitor.lang)(key, **values)}, status_code=400)
        try:
            opened = await in_thread(open_issue, settings, slug)
        except EditError as problem:
            return await _refused(request, visitor, problem)
        return await _editor(
            request,
            visitor,
            path,
            text=opened.text,
            version=opened.base_version,
            draft_version=opened.draft_version,
            error=key,
            error_values=values,
            status_code=400,
        )
    await _audit(
        request, visitor, "issue.image_added", slug, {"file": name, "width": width, "scaled": scaled}
    )
    markdown = image_markdown(alt, name)
    if wants_json:
        t = admin_translator(visitor.lang)
        scaled_words = t("image_scaled", width=width) if scaled else ""
        return JSONResponse(
            {
                "markdown": markdown,
                "name": name,
                "message": t("image_inserted", name=name, scaled=scaled_words),
            }
        )
    query = {"done": "image", "image": name, "alt": alt, **({"scaled": str(width)} if scaled else {})}
    return see_other(edit_url(slug) + "?" + urlencode(query))


routes = [
    Route(NEW, new_issue_form, methods=["GET"]),
    Route(NEW, create_new_issue, methods=["POST"]),
    Route(ISSUES + "{slug}/edit", edit_page, methods=["GET"]),
    Route(ISSUES + "{slug}/edit", save_issue, methods=["POST"]),
    Route(ISSUES + "{slug}/autosave", autosave_draft, methods=["POST"]),
    Route(ISSUES + "{slug}/discard-draft", discard, methods=["POST"]),
    Route(ISSUES + "{slug}/preview", render_preview, methods=["POST"]),
    Route(ISSUES + "{slug}/preview/{name}", preview_document, methods=["GET"]),
    Route(ISSUES + "{slug}/images", upload_image, methods=["POST"]),
    Route(ISSUES + "{slug}/images/{name}", issue_image, methods=["GET"]),
]
