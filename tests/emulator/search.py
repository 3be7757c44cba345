"""The providers' logs of accepted messages, as the emulator answers searches of them.

- Postmark ``GET /messages/outbound`` (Messages API, "outbound message search"):
  ``count`` (≤ 500) and ``offset`` required, ``count + offset`` ≤ 10,000; filters
  ``recipient``, ``tag`` and ``metadata_<name>``; ``{"TotalCount", "Messages": […]}``,
  newest first.
- Mailgun ``GET /v3/{domain}/events`` (events API): ``begin`` and ``ascending`` (or
  ``end``), ``limit`` ≤ 300, filters ``recipient``, ``event`` and ``user-variables``
  (a JSON object every pair of which the event's user-variables must hold);
  ``{"items": […], "paging": {"next": URL, …}}``, paged until an empty page. Each
  accepted message has its ``accepted`` event.
- SendGrid ``GET /v3/messages`` (Email Activity API): ``query`` made of
  ``to_email="…"``, ``msg_id="…"`` and ``unique_args['name']="…"`` joined with
  ``AND``; ``limit`` ≤ 1000; ``{"messages": [{"msg_id", "to_email", "status", …}]}``.

A message shows up ``State.log_delay`` seconds after it was accepted (the providers'
lag); ``search_error`` faults (``status`` 429 with ``retry_after``, 500, 503, 403 for a
SendGrid account without the Email Activity add-on) answer instead.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.emulator.state import Fault, LoggedMessage, Reply, State, json_reply, key_ok

POSTMARK_MAX_COUNT = 500
POSTMARK_MAX_WINDOW = 10_000
MAILGUN_MAX_LIMIT = 300
SENDGRID_MAX_LIMIT = 1000
_SENDGRID_CONDITION = re.compile(
    r"""^\s*(to_email|msg_id|unique_args\['([^']+)'\])\s*=\s*"((?:[^"\\]|\\.)*)"\s*$"""
)


def provider_of(path: str) -> str | None:
    """Which provider's log a GET of ``path`` searches; None when it is no log search."""
    if path == "/messages/outbound":
        return "postmark"
    if path == "/v3/messages":
        return "sendgrid"
    if re.fullmatch(r"/v3/[^/]+/events(/[A-Za-z0-9_=-]+)?", path):
        return "mailgun"
    return None


def answer(state: State, provider: str, headers: Message, target: str, base_url: str) -> Reply:
    parts = urlsplit(target)
    query = {name: values[-1] for name, values in parse_qs(parts.query, keep_blank_values=True).items()}
    fault = state.take_fault(provider, search=True)
    if fault is not None:
        return _fault_reply(fault)
    if provider == "postmark":
        return _postmark(state, headers, query)
    if provider == "sendgrid":
        return _sendgrid(state, headers, query)
    return _mailgun(state, headers, parts.path, query, base_url)


def _fault_reply(fault: Fault) -> Reply:
    status = int(fault.params.get("status", 500))
    headers = {"Retry-After": str(fault.params.get("retry_after", 1))} if status == 429 else {}
    return json_reply(
        status, {"message": f"emulated {status}", "errors": [{"message": f"emulated {status}"}]}, headers
    )


# -- Postmark -----------------------------------------------------------------
def _postmark(state: State, headers: Message, query: dict[str, str]) -> Reply:
    if not key_ok(state, "postmark", headers.get("X-Postmark-Server-Token")):
        return json_reply(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."})
    try:
        count, offset = int(query["count"]), int(query["offset"])
    except (KeyError, ValueError):
        return json_reply(
            422, {"ErrorCode": 1103, "Message": "The 'count' and 'offset' parameters are required."}
        )
    if not 0 < count <= POSTMARK_MAX_COUNT or offset < 0 or count + offset > POSTMARK_MAX_WINDOW:
        return json_reply(
            422, {"ErrorCode": 1103, "Message": "Count must be 1–500 and count + offset at most 10000."}
        )
    metadata = {
        name[len("metadata_") :]: value for name, value in query.items() if name.startswith("metadata_")
    }
    found = [
        m
        for m in state.searchable("postmark")
        if ("recipient" not in query or m.email.lower() == query["recipient"].lower())
        and ("tag" not in query or m.tag == query["tag"])
        and all(m.metadata.get(name) == value for name, value in metadata.items())
    ]
    found.sort(key=lambda m: m.at, reverse=True)
    return json_reply(
        200,
        {"TotalCount": len(found), "Messages": [_postmark_entry(m) for m in found[offset : offset + count]]},
    )


def _postmark_entry(message: LoggedMessage) -> dict[str, Any]:
    return {
        "Tag": message.tag,
        "MessageID": message.message_id,
        "MessageStream": "broadcast",
        "To": [{"Email": message.email, "Name": None}],
        "Cc": [],
        "Bcc": [],
        "Recipients": [message.email],
        "ReceivedAt": datetime.fromtimestamp(message.at, UTC).isoformat(),
        "From": "emulator",
        "Subject": "",
        "Attachments": [],
        "Status": "Sent",
        "TrackOpens": False,
        "TrackLinks": "None",
        "Metadata": dict(message.metadata),
        "Sandboxed": False,
    }


# -- Mailgun ------------------------------------------------------------------
def _mailgun(state: State, headers: Message, path: str, query: dict[str, str], base_url: str) -> Reply:
    auth = headers.get("Authorization", "")
    user, _, key = (
        base64.b64decode(auth[6:]).decode(errors="replace").partition(":")
        if auth.startswith("Basic ")
        else ("", "", "")
    )
    if user != "api" or not key_ok(state, "mailgun", key):
        return Reply(401, b"Forbidden", {"Content-Type": "text/plain"})
    domain = path.split("/")[2]
    page_token = path.split("/")[4] if path.count("/") == 4 else ""
    if page_token:  # a next-page link: the original query and where the last page ended
        query = json.loads(base64.urlsafe_b64decode(page_token))
    if "begin" not in query or ("ascending" not in query and "end" not in query):
        return json_reply(400, {"message": "Either 'end' or 'ascending' must be given with 'begin'"})
    limit = int(query.get("limit", 100))
    if not 0 < limit <= MAILGUN_MAX_LIMIT:
        return json_reply(400, {"message": "'limit' must be between 1 and 300"})
    try:
        wanted = json.loads(query["user-variables"]) if "user-variables" in query else {}
    except ValueError:
        return json_reply(400, {"message": "'user-variables' must be a JSON object"})
    begin = float(query["begin"])
    found = [
        m
        for m in state.searchable("mailgun")
        if m.at >= begin
        and ("recipient" not in query or m.email.lower() == query["recipient"].lower())
        and query.get("event", "accepted") == "accepted"
        and all(m.metadata.get(name) == str(value) for name, value in wanted.items())
    ]
    found.sort(key=lambda m: m.at)
    skip = int(query.get("_skip", 0))
    page = found[skip : skip + limit]
    following = base64.urlsafe_b64encode(json.dumps({**query, "_skip": skip + len(page)}).encode()).decode()
    own = f"{base_url}/v3/{domain}/events"
    return json_reply(
        200,
        {
            "items": [_mailgun_event(m, domain) for m in page],
            "paging": {
                "next": f"{own}/{following}",
                "previous": f"{own}/{following}",
                "first": f"{own}/{following}",
                "last": f"{own}/{following}",
            },
        },
    )


def _mailgun_event(message: LoggedMessage, domain: str) -> dict[str, Any]:
    return {
        "id": f"emu-event-{message.message_id}-{message.email}",
        "event": "accepted",
        "timestamp": message.at,
        "log-level": "info",
        "recipient": message.email,
        "recipient-domain": message.email.rpartition("@")[2],
        "tags": [message.tag] if message.tag else [],
        "user-variables": dict(message.metadata),
        "message": {"headers": {"message-id": message.message_id, "to": message.email}, "size": 0},
        "flags": {"is-authenticated": True, "is-test-mode": False},
        "envelope": {"sending-ip": "127.0.0.1", "sender": f"bounce@{domain}"},
    }


# -- SendGrid -----------------------------------------------------------------
def _sendgrid(state: State, headers: Message, query: dict[str, str]) -> Reply:
    auth = headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not key_ok(state, "sendgrid", auth[7:]):
        return json_reply(401, {"errors": [{"message": "authorization required", "field": None}]})
    limit = int(query.get("limit", 10))
    if not 0 < limit <= SENDGRID_MAX_LIMIT:
        return json_reply(
            400, {"errors": [{"message": "limit must be between 1 and 1000", "field": "limit"}]}
        )
    conditions = []
    for part in re.split(r"\s+AND\s+", query.get("query", "")):
        if not part.strip():
            continue
        match = _SENDGRID_CONDITION.match(part)
        if match is None:
            return json_reply(400, {"errors": [{"message": f"invalid query: {part}", "field": "query"}]})
        field, argument, value = match.groups()
        conditions.append((field, argument, re.sub(r"\\(.)", r"\1", value)))

    def matches(message: LoggedMessage) -> bool:
        for field, argument, value in conditions:
            if field == "to_email" and message.email.lower() != value.lower():
                return False
            if field == "msg_id" and not message.message_id.startswith(value):
                return False
            if argument is not None and message.metadata.get(argument) != value:
                return False
        return True

    found = [m for m in state.searchable("sendgrid") if matches(m)][:limit]
    return json_reply(
        200,
        {
            "messages": [
                {
                    "from_email": "emulator@example.com",
                    "msg_id": m.message_id,
                    "subject": "",
                    "to_email": m.email,
                    "status": "processed",
                    "opens_count": 0,
                    "clicks_count": 0,
                    "last_event_time": datetime.fromtimestamp(m.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                }
                for m in found
            ]
        },
    )
