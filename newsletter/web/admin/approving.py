"""The four-eyes rule in the workspace (``[admin] four_eyes``): ask for approval, approve.

The send page shows where the rule stands for the visitor
(:func:`.sending.approval_step`); these two routes take its steps through
:mod:`newsletter.workspace.approvals`, which also audits them. Starting the
approved send is the send page's own form (:func:`.sending.start_send`), for
the one who asked or the one who approved.
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.errors import ApprovalRefused
from newsletter.send.plan import find_list_id
from newsletter.web.admin.guard import Visitor, field, guarded, see_other
from newsletter.web.admin.sending import ISSUE_PATH, SendForm, checked_send_form, refusal, send_page_url
from newsletter.web.context import WebContext, web
from newsletter.workspace.approvals import approve, content_fingerprint, request_approval


def _back_to_the_list(checked: SendForm) -> Response:
    return see_other(send_page_url(checked.path.stem) + "?" + urlencode({"list": checked.list_name}))


def _ask(context: WebContext, visitor: Visitor, checked: SendForm) -> None:
    with context.write() as conn:
        request_approval(
            conn,
            checked.issue.slug,
            find_list_id(conn, checked.list_name),
            checked.list_name,
            content_fingerprint(checked.issue.content),
            requester=visitor.user,
            actor=visitor.actor(),
        )


def _approve(context: WebContext, visitor: Visitor, checked: SendForm) -> None:
    with context.write() as conn:
        approve(
            conn,
            checked.issue.slug,
            find_list_id(conn, checked.list_name),
            checked.list_name,
            content_fingerprint(checked.issue.content),
            approver=visitor.user,
            actor=visitor.actor(),
        )


@guarded("issue.send")
async def ask_for_approval(request: Request, visitor: Visitor, form: FormData) -> Response:
    """Put the send up for approval; the list's name is typed, as for the send itself."""
    checked = await checked_send_form(request, visitor, field(form, "list", 64), field(form, "confirm", 200))
    if not isinstance(checked, SendForm):
        return checked
    await web(request).in_writer(_ask, web(request), visitor, checked)
    return _back_to_the_list(checked)


@guarded("issue.approve")
async def approve_send(request: Request, visitor: Visitor, form: FormData) -> Response:
    """Approve the issue as it renders now, for the list asked for (not one's own request)."""
    checked = await checked_send_form(request, visitor, field(form, "list", 64), None)
    if not isinstance(checked, SendForm):
        return checked
    try:
        await web(request).in_writer(_approve, web(request), visitor, checked)
    except ApprovalRefused as exc:
        refuse = refusal(request, visitor, checked.path, checked.prepared, checked.list_name)
        return await refuse(409, "approval_" + exc.reason, {"list": checked.list_name})
    return _back_to_the_list(checked)


routes = [
    Route(ISSUE_PATH + "/approval", ask_for_approval, methods=["POST"]),
    Route(ISSUE_PATH + "/approval/approve", approve_send, methods=["POST"]),
]
