"""The workspace's home page: every issue file, newest first, with its check result and send state.

Each file goes through :func:`newsletter.checks.files.check_issue_file`, the
very function ``newsletter check`` uses — through the workspace's
:class:`~newsletter.checks.files.CheckedFiles`, so a file that has not changed
since the last load (nor its images, nor the templates) is not rendered and
checked again — and the send ledger says whether it went out: no send yet is
a draft (so is one whose sends were all cancelled); sends that all wait for
their time are "scheduled"; a send still planned or under way is "sending";
every send done is "sent", naming the lists.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from newsletter.checks.files import CheckedFile, CheckedFiles
from newsletter.issue import all_issues
from newsletter.send.plan import SendRow, sends_of_issues
from newsletter.web.admin.guard import HOME, Visitor, admin_state, guarded, render
from newsletter.web.context import WebContext, in_thread, web


@dataclass(frozen=True)
class IssueRow:
    checked: CheckedFile
    sends: list[SendRow]

    @property
    def slug(self) -> str:
        return self.checked.path.stem

    @property
    def _sends(self) -> list[SendRow]:
        """The sends that count: a cancelled one sent nothing."""
        return [send for send in self.sends if send.status != "cancelled"]

    @property
    def state(self) -> str:
        """``draft``, ``scheduled`` (every send waits for its time), ``sending`` or ``sent``, from the ledger."""
        if not self._sends:
            return "draft"
        if all(send.status == "scheduled" for send in self._sends):
            return "scheduled"
        return "sent" if all(send.status == "done" for send in self._sends) else "sending"

    @property
    def lists(self) -> str:
        return ", ".join(send.list_name for send in self._sends)


def issue_rows(context: WebContext, checks: CheckedFiles) -> list[IssueRow]:
    """Every issue in the issues folder, newest first (the file names start with the date)."""
    paths = sorted(all_issues(context.settings), key=lambda path: path.name, reverse=True)
    checked = checks.check_all(paths)
    with context.read() as conn:
        sends = sends_of_issues(conn, [path.stem for path in paths])
    return [IssueRow(file, sends[file.path.stem]) for file in checked]


@guarded("issue.preview")
async def issues_page(request: Request, visitor: Visitor, form: FormData) -> Response:
    context = web(request)
    rows = await in_thread(issue_rows, context, admin_state(request).issue_checks)
    return render(request, "admin/issues.html", visitor.lang, visitor=visitor, rows=rows)


routes = [Route(HOME, issues_page, methods=["GET"])]
