"""Reading a submitted form as text fields only.

Every form the service shows holds text inputs. A request that sends a file
instead (multipart with a ``filename``), or a form Starlette cannot parse, is
refused as a whole: a file must never be turned into a string such as
``UploadFile(filename='x.txt', …)`` and stored as somebody's name. Files are
never spooled to disk either: the parser is told to accept none. The one
exception is :func:`upload_form`, for the workspace's image upload.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import Response

from newsletter.web.context import WebContext

__all__ = ["UnusableForm", "text_form", "unusable_form_page", "upload_form"]


class UnusableForm(Exception):
    """The request's form holds a file or cannot be parsed; answer 400 with the page's own form."""


async def text_form(request: Request) -> FormData:
    """The form's fields, every value a ``str``; :class:`UnusableForm` otherwise."""
    try:
        form = await request.form(max_files=0)
    except (HTTPException, MultiPartException) as exc:
        raise UnusableForm(str(getattr(exc, "detail", exc))) from exc
    if any(not isinstance(value, str) for value in form.values()):
        raise UnusableForm("a form field holds a file")
    return form


async def upload_form(request: Request) -> FormData:
    """A form with at most one file (the workspace's image upload): its other fields text, as always.

    The file arrives as Starlette's ``UploadFile`` (in memory up to 1 MB, then
    a temporary file that is removed with the request); its size is bounded
    by the route's body limit before any of it is read.
    """
    try:
        form = await request.form(max_files=1, max_fields=20)
    except (HTTPException, MultiPartException) as exc:
        raise UnusableForm(str(getattr(exc, "detail", exc))) from exc
    return form


def unusable_form_page(context: WebContext, request: Request) -> Response:
    """400 for a form that holds a file or cannot be parsed, on a page without its own form."""
    return context.page(
        request,
        "message.html",
        context.language(request),
        400,
        heading_key="form_unusable_heading",
        body_key="form_unusable",
    )
