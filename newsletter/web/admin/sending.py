"""Test and send an issue (journey steps 4 and 5): a test to oneself or the test group, a send to a list.

Every step is the library's, as ``newsletter send`` takes it:

- the issue is found, rendered once and checked by
  :func:`~newsletter.send.service.prepare_issue`; its findings are shown, and
  errors block a send to a list (not a test), as they block the CLI;
- a test is :func:`~newsletter.send.service.send_test` — ``[TEST]`` in the
  subject, through the configured provider, no ledger rows — to the signed-in
  user's own address or to ``[admin] test_group``;
- before a send the page shows :func:`~newsletter.send.service.preview_send`
  (audience, what the ledger already holds, an estimate) and the provider's
  label; the send starts only when the list's name is typed, and runs in the
  background (:mod:`.runs`) under the same per-issue lock as the CLI;
- the progress page reads :func:`~newsletter.send.report.send_progress` and
  :func:`~newsletter.send.report.issue_status` — the ledger, so it survives a
  reload and a restart — and says how to continue a send that is not running
  and what to do about failed and unknown rows, with a button and the command;
  when a send is scheduled (``newsletter send --at``), with a button that calls
  it off (audited as ``issue.schedule_cancelled``), and when the issue was
  changed after the send was planned (the send goes on with what it froze);
- the send form takes an optional time (``send --at``): after the same checks,
  typed name and four-eyes rule as a send now, the send is planned and left to
  ``newsletter worker`` (:func:`~newsletter.send.schedule.schedule_send`); a time
  :func:`~newsletter.send.schedule.instant_of` refuses is said in the page's
  language, from the reason it gives (:class:`~newsletter.errors.TimeRefused`).

Tests are audited as ``issue.test_sent``, every start (first, continued or
repaired) as ``issue.sent``, a schedule as ``issue.scheduled``. Editors may
test; sending to a list and its progress need ``issue.send``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.checks.files import unrenderable
from newsletter.config import Settings
from newsletter.errors import (
    ApprovalRefused,
    IssueError,
    NewsletterError,
    NotFound,
    RenderError,
    SendBusy,
    SendError,
    TimeRefused,
)
from newsletter.issue import all_issues
from newsletter.links import issue_url
from newsletter.providers.base import Outcome
from newsletter.providers.registry import provider_class
from newsletter.send import ledger
from newsletter.send.lock import is_locked
from newsletter.send.plan import SendRow, find_list_id, get_send, sends_of_issue
from newsletter.send.report import (
    DEFAULT_LISTED,
    Progress,
    SendStatus,
    duration_parts,
    issue_status,
    send_command_line,
    send_progress,
)
from newsletter.send.schedule import (
    ScheduledSend,
    cancel,
    instant_of,
    local_text,
    schedule_send,
)
from newsletter.send.service import (
    PreparedIssue,
    SendOptions,
    SendPreview,
    current_fingerprint,
    planned_snapshot,
    prepare_issue,
    preview_send,
    send_test,
)
from newsletter.store.lists import ListRow, all_lists
from newsletter.web.admin.guard import HOME, Visitor, admin_state, field, guarded, message, render, see_other
from newsletter.web.admin.runs import SendRun, SendRuns
from newsletter.web.admin.words import ADMIN_STRINGS, admin_translator
from newsletter.web.context import WebContext, in_thread, web
from newsletter.workspace.approvals import Approval, check_may_start, content_fingerprint, current_approval
from newsletter.workspace.audit import record

ISSUE_PATH = "/admin/issues/{slug}"
# The numbers of a running send are fetched again this often (htmx); the page says so.
POLL_SECONDS = 2
# Run states in which the numbers still move, so the page keeps asking for them.
LIVE_STATES = ("starting", "running", "stopping", "elsewhere")


def send_page_url(slug: str) -> str:
    return f"/admin/issues/{quote(slug)}/send"


def progress_page_url(slug: str, list_name: str) -> str:
    return f"/admin/issues/{quote(slug)}/sends/{quote(list_name)}"


def issue_file(settings: Settings, slug: str) -> Path | None:
    """The issue file named ``slug`` in the issues folder; None for anything else (no paths)."""
    return next((path for path in all_issues(settings) if path.stem == slug), None)


@dataclass(frozen=True)
class Prepared:
    """An issue rendered and checked for sending, or the one finding that says why it cannot be."""

    issue: PreparedIssue | None
    findings: list[Any]  # newsletter.checks.Finding

    @property
    def errors(self) -> int:
        return sum(finding.severity == "error" for finding in self.findings)

    @property
    def warnings(self) -> int:
        return sum(finding.severity == "warning" for finding in self.findings)


def prepare(settings: Settings, path: Path) -> Prepared:
    try:
        issue = prepare_issue(settings, str(path))
    except (IssueError, RenderError) as exc:
        return Prepared(None, unrenderable(exc))
    return Prepared(issue, list(issue.findings))


def provider_label(settings: Settings, lang: str) -> str:
    """What the page calls the provider: its name, or for the outbox and SMTP a description in ``lang``."""
    name = settings.provider.name
    key = f"provider_{name}"
    if key in ADMIN_STRINGS:
        return admin_translator(lang)(key)
    return provider_class(name).label or name


def number_text(value: float, lang: str, decimals: int = 0) -> str:
    text = f"{value:,.{decimals}f}"
    if lang == "da":  # 1.234,5
        text = text.replace(",", " ").replace(".", ",").replace(" ", ".")
    return text


def duration_text(seconds: float, lang: str) -> str:
    number, unit = duration_parts(seconds)
    shown = number_text(number, lang, 1 if unit == "h" else 0)
    return admin_translator(lang)("unit_" + unit, number=shown)


def utc_text(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else ""


# --- the test-and-send page --------------------------------------------------------------------


@dataclass(frozen=True)
class SendFacts:
    """What the send page shows about the issue and, once a list is chosen, the send to it."""

    lists: list[ListRow]
    sends: list[SendRow]
    preview: SendPreview | None
    approval: Approval | None = None  # with [admin] four_eyes: the newest request for this list


def _send_facts(context: WebContext, prepared: Prepared, slug: str, list_name: str) -> SendFacts:
    with context.read() as conn:
        lists = all_lists(conn)
        sends = sends_of_issue(conn, slug)
        chosen = next((row for row in lists if row.name == list_name), None)
        approval = None
        if chosen is not None and context.settings.admin.four_eyes:
            approval = current_approval(conn, slug, chosen.id)
    preview = None
    if prepared.issue is not None and chosen is not None:
        preview = preview_send(
            context.engine, context.settings, slug, prepared.issue.subject, list_name, SendOptions()
        )
    return SendFacts(lists, sends, preview, approval)


def approval_step(approval: Approval | None, visitor: Visitor, prepared: Prepared) -> str:
    """Where the four-eyes rule stands for this visitor: ``ask``, ``changed`` (ask again),
    ``waiting`` (for someone else), ``approve`` (this visitor may), ``ready`` (may start) or ``others``."""
    if approval is None or prepared.issue is None:
        return "ask"
    if approval.fingerprint != content_fingerprint(prepared.issue.content):
        return "changed"
    if not approval.approved:
        mine = approval.requested_by == visitor.user.id
        return "approve" if not mine and visitor.may("issue.approve") else "waiting"
    return "ready" if visitor.user.id in (approval.requested_by, approval.approved_by) else "others"


async def send_page_answer(
    request: Request,
    visitor: Visitor,
    path: Path,
    prepared: Prepared,
    *,
    list_name: str = "",
    status_code: int = 200,
    error: str = "",
    error_values: dict[str, Any] | None = None,
    test_results: list[tuple[str, Any]] | None = None,
    test_error: str = "",
    at_value: str = "",
) -> Response:
    context = web(request)
    slug = path.stem
    facts = SendFacts([], [], None)
    if visitor.may("issue.send"):
        facts = await in_thread(_send_facts, context, prepared, slug, list_name)
    preview = facts.preview
    subject = prepared.issue.subject if prepared.issue is not None else slug
    return render(
        request,
        "admin/send.html",
        visitor.lang,
        visitor=visitor,
        status_code=status_code,
        slug=slug,
        file_name=path.name,
        subject=subject,
        prepared=prepared,
        provider_label=provider_label(context.settings, visitor.lang),
        test_group=context.settings.admin.test_group,
        test_results=test_results,
        test_subject=f"[TEST] {subject}",
        test_error=test_error,
        may_send=visitor.may("issue.send"),
        lists=facts.lists,
        sends=facts.sends,
        chosen=list_name,
        preview=preview,
        four_eyes=context.settings.admin.four_eyes,
        approval=facts.approval,
        approval_step=approval_step(facts.approval, visitor, prepared),
        utc=utc_text,
        estimate=duration_text(preview.estimate_seconds, visitor.lang) if preview else "",
        running=admin_state(request).runs.alive_for(slug),
        send_url=send_page_url(slug),
        progress_url=progress_page_url,
        error=error,
        error_values=error_values or {},
        zone=context.settings.timezone,
        at_value=at_value,
        # The picker offers no time before now, in the zone the time is read in.
        at_min=local_text(ledger.utcnow(), context.settings.timezone).replace(" ", "T"),
    )


def _not_found(request: Request, visitor: Visitor) -> Response:
    return message(
        request, visitor.lang, 404, "not_found_title", "not_found_body", visitor=visitor, link=HOME
    )


@guarded("issue.test_send")
async def send_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    path = issue_file(context.settings, request.path_params["slug"])
    if path is None:
        return _not_found(request, visitor)
    prepared = await in_thread(prepare, context.settings, path)
    return await send_page_answer(
        request, visitor, path, prepared, list_name=request.query_params.get("list", "")
    )


# --- a test ------------------------------------------------------------------------------------


def _send_test(
    context: WebContext,
    visitor: Visitor,
    prepared: PreparedIssue,
    to: str,
    addresses: list[str],
    list_name: str,
) -> Any:
    results = send_test(context.settings, prepared, context.provider, addresses, list_name=list_name or None)
    accepted = sum(result.outcome is Outcome.ACCEPTED for _, result in results)
    with context.write() as conn:
        # The addresses stay out of the log: the user's own is the actor, the group's are in the settings.
        record(
            conn,
            visitor.actor(),
            "issue.test_sent",
            prepared.slug,
            {
                "to": to,
                "recipients": len(results),
                "accepted": accepted,
                "provider": context.settings.provider.name,
            },
        )
    return results


@guarded("issue.test_send")
async def test_send(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    path = issue_file(context.settings, request.path_params["slug"])
    if path is None:
        return _not_found(request, visitor)
    prepared = await in_thread(prepare, context.settings, path)
    to = field(form, "to", 10)
    list_name = field(form, "list", 64)
    if prepared.issue is None:
        return await send_page_answer(
            request, visitor, path, prepared, list_name=list_name, status_code=409, error="test_broken"
        )
    if to == "group" and context.settings.admin.test_group:
        addresses = list(context.settings.admin.test_group)
    elif to == "me":
        addresses = [visitor.user.email]
    else:
        return await send_page_answer(
            request, visitor, path, prepared, list_name=list_name, status_code=400, error="test_no_group"
        )
    try:
        results = await in_thread(
            _send_test,
            context,
            visitor,
            prepared.issue,
            "test_group" if to == "group" else "me",
            addresses,
            list_name,
        )
    except NewsletterError as exc:  # the provider refused the request, or an address is unusable
        return await send_page_answer(
            request, visitor, path, prepared, list_name=list_name, status_code=502, test_error=exc.message
        )
    return await send_page_answer(request, visitor, path, prepared, list_name=list_name, test_results=results)


# --- starting a send ---------------------------------------------------------------------------


def _check_approval(
    context: WebContext, visitor: Visitor, slug: str, list_name: str, fingerprint: str
) -> None:
    """With ``[admin] four_eyes``: refuse unless another sender approved this version for this visitor."""
    if not context.settings.admin.four_eyes:
        return
    with context.read() as conn:
        approval = current_approval(conn, slug, find_list_id(conn, list_name))
    check_may_start(approval, visitor.user, fingerprint, list_name)


def _start(
    context: WebContext,
    runs: SendRuns,
    visitor: Visitor,
    prepared: PreparedIssue,
    list_name: str,
    options: SendOptions,
    resumed: bool,
) -> SendRun:
    if context.settings.admin.four_eyes:
        # A send planned before goes on with its frozen copy: that is what the approval must cover.
        frozen = planned_snapshot(context.engine, prepared.slug, list_name)
        fingerprint = frozen.fingerprint if frozen is not None else content_fingerprint(prepared.content)
        _check_approval(context, visitor, prepared.slug, list_name, fingerprint)
    run = runs.start(
        context.engine,
        context.settings,
        prepared,
        list_name,
        context.provider,
        options,
        started_by=visitor.user.email,
    )
    with context.write() as conn:
        record(
            conn,
            visitor.actor(),
            "issue.sent",
            prepared.slug,
            {
                "list": list_name,
                "queued": run.queued,
                "provider": context.settings.provider.name,
                "continued": resumed,
                "retry_failed": options.retry_failed,
                "resend_unknown": options.resend_unknown,
            },
        )
    return run


async def _start_or_refuse(
    request: Request,
    visitor: Visitor,
    prepared: PreparedIssue,
    list_name: str,
    options: SendOptions,
    *,
    resumed: bool,
    refuse: Refusal,
) -> Response:
    try:
        await in_thread(
            _start, web(request), admin_state(request).runs, visitor, prepared, list_name, options, resumed
        )
    except SendBusy:
        return await refuse(409, "error_busy", {"issue": prepared.slug})
    except ApprovalRefused as exc:
        return await refuse(409, "approval_" + exc.reason, {"list": list_name})
    except NewsletterError as exc:
        return await refuse(409, "error_start", {"error": exc.message})
    return see_other(progress_page_url(prepared.slug, list_name))


@dataclass(frozen=True)
class SendForm:
    """A posted send form that passed the checks every send (or request for one) must pass."""

    path: Path
    prepared: Prepared
    issue: PreparedIssue
    list_name: str


Refusal = Callable[[int, str, dict[str, Any]], Awaitable[Response]]


def refusal(
    request: Request, visitor: Visitor, path: Path, prepared: Prepared, list_name: str, *, at_value: str = ""
) -> Refusal:
    """How a refused form answers: the send page again, with the reason above it (and the time
    picked, if any, still in the picker)."""

    async def refuse(status_code: int, error: str, values: dict[str, Any]) -> Response:
        return await send_page_answer(
            request,
            visitor,
            path,
            prepared,
            list_name=list_name,
            status_code=status_code,
            error=error,
            error_values=values,
            at_value=at_value,
        )

    return refuse


async def checked_send_form(
    request: Request, visitor: Visitor, list_name: str, typed_name: str | None, *, at_value: str = ""
) -> SendForm | Response:
    """The issue, the list and (unless ``typed_name`` is None) the list's name typed to confirm;
    a refusal otherwise.

    The checks are those of ``newsletter send``: an issue that does not render, or has check
    errors, is not sent to a list.
    """
    context = web(request)
    path = issue_file(context.settings, request.path_params["slug"])
    if path is None:
        return _not_found(request, visitor)
    prepared = await in_thread(prepare, context.settings, path)
    refuse = refusal(request, visitor, path, prepared, list_name, at_value=at_value)
    if list_name not in await in_thread(_list_names, context):
        return await refuse(400, "error_choose_list", {})
    if typed_name is not None and typed_name.strip() != list_name:
        return await refuse(400, "error_confirm", {"list": list_name})
    if prepared.issue is None:
        return await refuse(409, "error_broken", {})
    if prepared.errors:
        return await refuse(409, "send_blocked_checks", {"errors": prepared.errors})
    return SendForm(path, prepared, prepared.issue, list_name)


@guarded("issue.send")
async def start_send(request: Request, visitor: Visitor, form: FormData) -> Response:
    """Send now, or with a time in ``at`` schedule the send for then (``newsletter send --at``)."""
    at_text = typed_time(field(form, "at", 40))
    checked = await checked_send_form(
        request, visitor, field(form, "list", 64), field(form, "confirm", 200), at_value=at_text
    )
    if not isinstance(checked, SendForm):
        return checked
    refuse = refusal(request, visitor, checked.path, checked.prepared, checked.list_name, at_value=at_text)
    if at_text:
        return await _schedule_or_refuse(request, visitor, checked, at_text, refuse)
    if await in_thread(_send_status, web(request), checked.issue.slug, checked.list_name) == "scheduled":
        # Said here, in the page's words; the library would refuse it too (refuse_if_scheduled).
        return await refuse(409, "error_send_scheduled", {"list": checked.list_name})
    return await _start_or_refuse(
        request, visitor, checked.issue, checked.list_name, SendOptions(), resumed=False, refuse=refuse
    )


# --- scheduling a send for later (``newsletter send --at``) ------------------------------------

# What a datetime-local field posts: "2026-12-24T08:00", some browsers with ":00" seconds.
_PICKED = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{1,2}:\d{2})(?::00(?:\.0+)?)?")


def typed_time(text: str) -> str:
    """The time of the send form's picker as ``send --at`` takes it ("YYYY-MM-DD HH:MM"); a time
    typed by hand (a browser without a picker) is passed on as typed, for :func:`instant_of` to judge."""
    typed = " ".join(text.split())
    picked = _PICKED.fullmatch(typed)
    return f"{picked[1]} {picked[2]}" if picked else typed


def _send_status(context: WebContext, slug: str, list_name: str) -> str:
    """The status of the send of ``slug`` to the list (``planned``, ``scheduled``, ``done`` …); "" for none."""
    with context.read() as conn:
        send = get_send(conn, slug, find_list_id(conn, list_name))
    return send.status if send is not None else ""


def _schedule(
    context: WebContext, visitor: Visitor, prepared: PreparedIssue, list_name: str, at: datetime
) -> ScheduledSend:
    settings = context.settings
    # A schedule freezes the file as it is now (as ``send --at`` does): the approval must cover that.
    _check_approval(context, visitor, prepared.slug, list_name, content_fingerprint(prepared.content))
    scheduled = schedule_send(
        context.engine,
        settings,
        issue=prepared.slug,
        content=prepared.content,
        lang=prepared.lang,
        list_name=list_name,
        at=at,
    )
    with context.write() as conn:
        record(
            conn,
            visitor.actor(),
            "issue.scheduled",
            prepared.slug,
            {
                "list": list_name,
                "scheduled_for": scheduled.at.isoformat(),
                "timezone": scheduled.zone,
                "recipients": scheduled.recipients,
                "provider": settings.provider.name,
            },
        )
    return scheduled


async def _schedule_or_refuse(
    request: Request, visitor: Visitor, checked: SendForm, at_text: str, refuse: Refusal
) -> Response:
    context = web(request)
    slug, list_name = checked.issue.slug, checked.list_name
    zone_name = context.settings.timezone
    now = ledger.utcnow()
    try:
        at = instant_of(at_text, zone_name, now=now)
    except TimeRefused as exc:
        return await refuse(400, "error_at_" + exc.reason, exc.values)
    try:
        await in_thread(_schedule, context, visitor, checked.issue, list_name, at)
    except SendBusy:
        return await refuse(409, "error_busy", {"issue": slug})
    except ApprovalRefused as exc:
        return await refuse(409, "approval_" + exc.reason, {"list": list_name})
    except SendError:  # it has started (or is done) meanwhile: only a send not started is scheduled
        status = await in_thread(_send_status, context, slug, list_name)
        error = "error_schedule_done" if status == "done" else "error_schedule_started"
        return await refuse(409, error, {"issue": slug, "list": list_name})
    except NewsletterError as exc:
        return await refuse(409, "error_schedule", {"error": exc.message})
    return see_other(progress_page_url(slug, list_name))


def _list_names(context: WebContext) -> set[str]:
    with context.read() as conn:
        return {row.name for row in all_lists(conn)}


# --- progress, continue, stop ------------------------------------------------------------------


@dataclass(frozen=True)
class ProgressView:
    progress: Progress | None  # None while a run is still planning the ledger
    status: SendStatus | None
    run: SendRun | None
    state: str

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


def run_state(run: SendRun | None, progress: Progress | None, held: Callable[[], bool]) -> str:
    """``starting``, ``running``, ``stopping``, ``elsewhere``, ``paused``, ``done``, ``scheduled``
    or ``cancelled``.

    A run of this process is asked first; without one, a send waiting for its
    time (``newsletter send --at``) is ``scheduled`` and one called off
    ``cancelled``; else rows still waiting mean either another process holds
    the issue's send lock (``elsewhere``) or nobody is sending (``paused``:
    stopped, failed, or the server restarted).
    """
    if run is not None and run.alive:
        if run.stop_asked:
            return "stopping"
        return "running" if progress is not None else "starting"
    if progress is not None and progress.status in ("scheduled", "cancelled"):
        return progress.status
    if progress is None or not progress.remaining:
        return "done"
    return "elsewhere" if held() else "paused"


def _progress_view(context: WebContext, run: SendRun | None, slug: str, list_name: str) -> ProgressView:
    try:
        progress = send_progress(context.engine, slug, list_name)
    except NotFound:
        if run is None or not run.alive:
            raise
        return ProgressView(None, None, run, "starting")
    state = run_state(run, progress, lambda: is_locked(context.engine, slug))
    status = None
    if state not in LIVE_STATES:  # with whether the issue changed after the send was planned
        status = issue_status(
            context.engine,
            slug,
            list_name,
            listed=DEFAULT_LISTED,
            current_fingerprint=lambda: current_fingerprint(context.settings, slug),
        )[0]
    return ProgressView(progress, status, run, state)


async def _progress(request: Request, visitor: Visitor) -> ProgressView | None:
    context = web(request)
    slug = request.path_params["slug"]
    list_name = request.path_params["list"]
    run = admin_state(request).runs.get(slug, list_name)
    try:
        return await in_thread(_progress_view, context, run, slug, list_name)
    except NotFound:
        return None


def _progress_values(request: Request, visitor: Visitor, view: ProgressView) -> dict[str, Any]:
    slug = request.path_params["slug"]
    list_name = request.path_params["list"]
    lang = visitor.lang
    progress = view.progress
    rate = seconds_left = ""
    if progress is not None and progress.rate:
        rate = number_text(progress.rate, lang, 1 if progress.rate < 10 else 0)
    if progress is not None and progress.seconds_left is not None:
        seconds_left = duration_text(progress.seconds_left, lang)
    page = progress_page_url(slug, list_name)
    return {
        "slug": slug,
        "list_name": list_name,
        "view": view,
        "progress": progress,
        "states": ledger.STATES,
        "rate": rate,
        "seconds_left": seconds_left,
        "run_error": view.run.error if view.run is not None and not view.run.alive else "",
        "page_url": page,
        "fragment_url": page + "/progress",
        "send_url": send_page_url(slug),
        "archive_url": issue_url(web(request).settings, slug),
        "poll_seconds": POLL_SECONDS,
        "utc": utc_text,
        "scheduled_for": _scheduled_for(view),
        "commands": {
            "cancel": f"newsletter schedule cancel {slug} --list {list_name}",
            "finish": send_command_line(slug, list_name),
            "retry_failed": send_command_line(slug, list_name, "--retry-failed"),
            "resend_unknown": send_command_line(slug, list_name, "--resend-unknown"),
        },
    }


def _scheduled_for(view: ProgressView) -> str:
    """``2026-12-24 08:00 (Europe/Copenhagen)``: when a scheduled send goes, in its own time zone."""
    schedule = view.status.schedule if view.status is not None else None
    if schedule is None:
        return ""
    return f"{local_text(schedule.at, schedule.zone)} ({schedule.zone})"


@guarded("issue.send")
async def progress_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    view = await _progress(request, visitor)
    if view is None:
        return _not_found(request, visitor)
    return render(
        request,
        "admin/send_progress.html",
        visitor.lang,
        visitor=visitor,
        **_progress_values(request, visitor, view),
        error=request.query_params.get("error", "")
        if request.query_params.get("error") in _PROGRESS_ERRORS
        else "",
        error_values={"issue": request.path_params["slug"]},
    )


_PROGRESS_ERRORS = ("error_busy", "error_nothing_ticked", "error_not_scheduled")


@guarded("issue.send")
async def progress_fragment(request: Request, visitor: Visitor, form: FormData) -> Response:
    """The numbers alone, for htmx to swap in every few seconds while they move."""
    view = await _progress(request, visitor)
    if view is None:
        return _not_found(request, visitor)
    response = render(
        request,
        "admin/_send_progress.html",
        visitor.lang,
        visitor=visitor,
        **_progress_values(request, visitor, view),
    )
    if not view.live:
        # The send ended: the whole page again, with what happened and what to do next.
        response.headers["HX-Refresh"] = "true"
    return response


def _progress_with_error(slug: str, list_name: str, error: str) -> Response:
    return see_other(progress_page_url(slug, list_name) + "?" + urlencode({"error": error}))


@guarded("issue.send")
async def continue_send(request: Request, visitor: Visitor, form: FormData) -> Response:
    """The same send again: what is queued, plus the failed or unknown rows when ticked."""
    slug = request.path_params["slug"]
    list_name = request.path_params["list"]
    options = SendOptions(
        retry_failed=field(form, "retry_failed", 3) == "yes",
        resend_unknown=field(form, "resend_unknown", 3) == "yes",
    )
    view = await _progress(request, visitor)
    if view is None:
        return _not_found(request, visitor)
    if (
        view.progress is not None
        and not view.progress.remaining
        and not (options.retry_failed or options.resend_unknown)
    ):
        return _progress_with_error(slug, list_name, "error_nothing_ticked")
    checked = await checked_send_form(request, visitor, list_name, None)
    if not isinstance(checked, SendForm):
        return checked
    on_the_send_page = refusal(request, visitor, checked.path, checked.prepared, list_name)

    async def refuse(status_code: int, error: str, values: dict[str, Any]) -> Response:
        if error == "error_busy":  # said where the user is: on the progress page
            return _progress_with_error(slug, list_name, error)
        return await on_the_send_page(status_code, error, values)

    return await _start_or_refuse(
        request, visitor, checked.issue, list_name, options, resumed=True, refuse=refuse
    )


@guarded("issue.send")
async def stop_send(request: Request, visitor: Visitor, form: FormData) -> Response:
    slug = request.path_params["slug"]
    list_name = request.path_params["list"]
    run = admin_state(request).runs.get(slug, list_name)
    if run is not None and run.alive:
        run.request_stop()
    return see_other(progress_page_url(slug, list_name))


def _cancel(context: WebContext, visitor: Visitor, slug: str, list_name: str) -> None:
    cancelled = cancel(context.engine, slug, list_name)
    with context.write() as conn:
        record(
            conn,
            visitor.actor(),
            "issue.schedule_cancelled",
            slug,
            {"list": list_name, "scheduled_for": cancelled.send.at.isoformat(), "removed": cancelled.removed},
        )


@guarded("issue.send")
async def cancel_scheduled(request: Request, visitor: Visitor, form: FormData) -> Response:
    """Call off a send waiting for its time: it never goes out, its queued rows are removed."""
    slug = request.path_params["slug"]
    list_name = request.path_params["list"]
    try:
        await in_thread(_cancel, web(request), visitor, slug, list_name)
    except (
        NewsletterError
    ):  # started meanwhile, cancelled already, or never scheduled: the page says how it is
        return _progress_with_error(slug, list_name, "error_not_scheduled")
    return see_other(progress_page_url(slug, list_name))


SENDS = ISSUE_PATH + "/sends/{list}"
routes = [
    Route(ISSUE_PATH + "/send", send_page, methods=["GET"]),
    Route(ISSUE_PATH + "/send", start_send, methods=["POST"]),
    Route(ISSUE_PATH + "/test", test_send, methods=["POST"]),
    Route(SENDS, progress_page, methods=["GET"]),
    Route(SENDS + "/progress", progress_fragment, methods=["GET"]),
    Route(SENDS + "/continue", continue_send, methods=["POST"]),
    Route(SENDS + "/stop", stop_send, methods=["POST"]),
    Route(SENDS + "/cancel", cancel_scheduled, methods=["POST"]),
]
