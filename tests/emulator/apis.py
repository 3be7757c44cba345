"""The providers' send endpoints as the emulator answers them (see tests.emulator)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import uuid
from email.message import Message
from email.utils import parseaddr
from typing import Any
from urllib.parse import parse_qsl

from tests.emulator.aws import aws_error, model_problems, signature_refusal
from tests.emulator.state import (
    LIMITS,
    RESEND_TAG,
    SENDGRID_RESERVED_HEADERS,
    Fault,
    RecordedRequest,
    Reply,
    State,
    bare_address,
    json_reply,
    key_ok,
)


# -- Postmark -----------------------------------------------------------------
def postmark(state: State, headers: Message, path: str, body: bytes, fault: Fault | None) -> Reply:
    if not key_ok(state, "postmark", headers.get("X-Postmark-Server-Token")):
        return json_reply(401, {"ErrorCode": 10, "Message": "Bad or missing Server API token."})
    try:
        messages = json.loads(body)
    except ValueError:
        return json_reply(422, {"ErrorCode": 402, "Message": "Received invalid JSON input."})
    state.record_request(RecordedRequest("postmark", path, dict(headers), messages))
    if not isinstance(messages, list):
        return json_reply(422, {"ErrorCode": 403, "Message": "Incompatible JSON input: expected an array."})
    if len(messages) > LIMITS["postmark"]:
        return json_reply(422, {"ErrorCode": 410, "Message": "Too many batch messages (max 500)."})
    answers: list[dict[str, Any]] = []
    accepted: list[tuple[str, str]] = []
    for message in messages:
        to = bare_address(str(message.get("To", ""))) if isinstance(message, dict) else ""
        code, text = _postmark_check(state, message, to, fault)
        if code:
            answers.append({"ErrorCode": code, "Message": text, "To": to})
            continue
        message_id = str(uuid.uuid4())
        accepted.append((to, message_id))
        answers.append(
            {
                "ErrorCode": 0,
                "Message": "OK",
                "MessageID": message_id,
                "SubmittedAt": "2026-01-01T00:00:00Z",
                "To": to,
            }
        )
    state.record_accepted("postmark", accepted, None)
    by_id = {
        mid: message
        for message, (to, mid) in zip(_accepted_messages(messages, answers), accepted, strict=True)
    }
    state.log_accepted(
        "postmark",
        [
            (to, mid, dict(by_id[mid].get("Metadata", {})), str(by_id[mid].get("Tag", "")))
            for to, mid in accepted
        ],
    )
    return json_reply(200, answers)


def _accepted_messages(messages: list[Any], answers: list[dict[str, Any]]) -> list[Any]:
    return [m for m, a in zip(messages, answers, strict=True) if a["ErrorCode"] == 0]


def _postmark_check(state: State, message: Any, to: str, fault: Fault | None) -> tuple[int, str]:
    if not isinstance(message, dict):
        return 300, "Invalid email request: each batch entry must be an object."
    for name in ("From", "To", "Subject"):
        if not message.get(name):
            return 300, f"Invalid email request: '{name}' is required."
    if not (message.get("HtmlBody") or message.get("TextBody")):
        return 300, "Provide either email TextBody or HtmlBody or both."
    headers = message.get("Headers", [])
    if not isinstance(headers, list) or not all(
        isinstance(h, dict) and set(h) == {"Name", "Value"} for h in headers
    ):
        return 300, "Invalid email request: Headers must be a list of {Name, Value}."
    metadata = message.get("Metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        return 300, "Invalid email request: Metadata must map names to strings."
    if not state.is_valid(to):
        return 300, f"Invalid 'To' address: '{to}'."
    if to.lower() in state.inactive_addresses:
        return 406, (
            "You tried to send to recipient(s) that have been marked as inactive. "
            f"Found inactive addresses: {to}."
        )
    if fault and fault.name == "message_error":
        address = fault.params.get("address")
        if address is None or address.lower() == to.lower():
            return int(fault.params.get("code", 406)), str(fault.params.get("message", "Emulated error"))
    return 0, ""


# -- SendGrid -----------------------------------------------------------------
def sendgrid(state: State, headers: Message, path: str, body: bytes, fault: Fault | None) -> Reply:
    auth = headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not key_ok(state, "sendgrid", auth[7:]):
        return json_reply(
            401, {"errors": [{"message": "The provided authorization grant is invalid", "field": None}]}
        )
    try:
        mail = json.loads(body)
    except ValueError:
        return json_reply(400, {"errors": [{"message": "Bad Request", "field": None}]})
    state.record_request(RecordedRequest("sendgrid", path, dict(headers), mail))
    errors = _sendgrid_errors(state, mail)
    if errors:
        return json_reply(400, {"errors": [{"message": m, "field": f} for f, m in errors]})
    request_id = f"emu{uuid.uuid4().hex[:18]}"
    accepted = [
        (to["email"], f"{request_id}.{i}")
        for i, personalization in enumerate(mail["personalizations"])
        for to in personalization["to"]
    ]
    state.record_accepted("sendgrid", accepted, None)
    categories = mail.get("categories") or [""]
    state.log_accepted(
        "sendgrid",
        [
            (to["email"], f"{request_id}.{i}", dict(p.get("custom_args", {})), str(categories[0]))
            for i, p in enumerate(mail["personalizations"])
            for to in p["to"]
        ],
    )
    return Reply(202, b"", {"X-Message-Id": request_id})


def _sendgrid_errors(state: State, mail: Any) -> list[tuple[str | None, str]]:
    if not isinstance(mail, dict):
        return [(None, "The request body must be a JSON object.")]
    errors: list[tuple[str | None, str]] = []
    personalizations = mail.get("personalizations")
    if not isinstance(personalizations, list) or not personalizations:
        return [("personalizations", "The personalizations field is required and must have at least one.")]
    if len(personalizations) > LIMITS["sendgrid"]:
        return [("personalizations", "The personalizations field may have at most 1000 items.")]
    sender = mail.get("from")
    if not isinstance(sender, dict) or not state.is_valid(str(sender.get("email", ""))):
        errors.append(("from.email", "The from email does not contain a valid address."))
    content = mail.get("content")
    if not isinstance(content, list) or not content:
        errors.append(
            ("content", "Unless a valid template_id is provided, the content parameter is required.")
        )
    else:
        types = [c.get("type") for c in content if isinstance(c, dict)]
        if "text/plain" in types and types[0] != "text/plain":
            errors.append(("content", "The text/plain content type must come first."))
        if any(not (isinstance(c, dict) and c.get("value")) for c in content):
            errors.append(
                ("content.value", "The content value must be a string at least one character long.")
            )
    errors += _sendgrid_fields_errors(None, mail, ("headers",))
    for i, personalization in enumerate(personalizations):
        where = f"personalizations.{i}"
        if not personalization.get("subject") and not mail.get("subject"):
            errors.append((f"{where}.subject", "The subject is required."))
        tos = personalization.get("to")
        if not isinstance(tos, list) or not tos:
            errors.append((f"{where}.to", "The to array is required for all personalization objects."))
            continue
        for j, to in enumerate(tos):
            if not isinstance(to, dict) or not state.is_valid(str(to.get("email", ""))):
                errors.append((f"{where}.to.{j}.email", "Does not contain a valid address."))
        errors += _sendgrid_fields_errors(where, personalization, ("headers", "custom_args", "substitutions"))
    return errors


def _sendgrid_fields_errors(
    where: str | None, holder: dict[str, Any], parts: tuple[str, ...]
) -> list[tuple[str | None, str]]:
    """Errors of the string maps of the message (``where`` None) or of one personalization."""
    errors: list[tuple[str | None, str]] = []
    for part in parts:
        field = f"{where}.{part}" if where else part
        values = holder.get(part, {})
        if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
            errors.append((field, f"Values in {part} must be strings."))
        elif part == "headers":
            reserved = {h.lower() for h in values} & SENDGRID_RESERVED_HEADERS
            if reserved:
                errors.append((field, f"You may not override headers: {', '.join(sorted(reserved))}."))
    return errors


# -- Mailgun ------------------------------------------------------------------
def mailgun(state: State, headers: Message, path: str, body: bytes, fault: Fault | None) -> Reply:
    auth = headers.get("Authorization", "")
    user, _, key = (
        base64.b64decode(auth[6:]).decode(errors="replace").partition(":")
        if auth.startswith("Basic ")
        else ("", "", "")
    )
    if user != "api" or not key_ok(state, "mailgun", key):
        return Reply(401, b"Forbidden", {"Content-Type": "text/plain"})
    if "application/x-www-form-urlencoded" not in headers.get("Content-Type", ""):
        return json_reply(400, {"message": "emulator: send the form urlencoded"})
    form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    state.record_request(RecordedRequest("mailgun", path, dict(headers), form))
    fields: dict[str, list[str]] = {}
    for name, value in form:
        fields.setdefault(name, []).append(value)
    domain = path.split("/")[2]
    if not fields.get("from"):
        return json_reply(400, {"message": "from parameter is missing"})
    tos = [bare_address(t) for t in fields.get("to", [])]
    if not tos:
        return json_reply(400, {"message": "to parameter is missing"})
    if not (fields.get("text") or fields.get("html")):
        return json_reply(
            400, {"message": "Need at least one of 'text', 'html' or 'template' parameters specified"}
        )
    if len(tos) > LIMITS["mailgun"]:
        return json_reply(400, {"message": "Too many recipients: at most 1000 per message"})
    variables: dict[str, Any] = {}
    if fields.get("recipient-variables"):
        try:
            variables = json.loads(fields["recipient-variables"][0])
        except ValueError:
            return json_reply(400, {"message": "recipient-variables parameter is not a valid JSON"})
        if len(variables) > LIMITS["mailgun"]:
            return json_reply(400, {"message": "Too many recipient variables: at most 1000"})
    if any(not state.is_valid(t) for t in tos):
        return json_reply(
            400, {"message": "'to' parameter is not a valid address. please check documentation"}
        )
    # Stricter than Mailgun (which would mail the raw %recipient.x% text): a missing
    # entry is always an adapter bug, so say so.
    missing = [t for t in tos if variables and t not in variables]
    if missing:
        return json_reply(400, {"message": f"emulator: recipient-variables has no entry for {missing[0]}"})
    message_id = f"<{state.next_id('mailgun')}@{domain}>"
    state.record_accepted("mailgun", [(t, message_id.strip("<>")) for t in tos], None)
    tag = (fields.get("o:tag") or [""])[0]
    state.log_accepted(
        "mailgun",
        [(t, message_id.strip("<>"), _user_variables(form, variables.get(t, {})), tag) for t in tos],
    )
    return json_reply(200, {"id": message_id, "message": "Queued. Thank you."})


def _user_variables(form: list[tuple[str, str]], values: dict[str, Any]) -> dict[str, str]:
    """The ``v:`` fields of one recipient, ``%recipient.x%`` expanded as Mailgun does."""
    return {
        name[2:]: re.sub(r"%recipient\.([A-Za-z0-9_]+)%", lambda m: str(values.get(m.group(1), "")), value)
        for name, value in form
        if name.startswith("v:")
    }


# -- Resend -------------------------------------------------------------------
def resend(state: State, headers: Message, path: str, body: bytes, fault: Fault | None) -> Reply:
    auth = headers.get("Authorization", "")
    if not auth.startswith("Bearer ") or not auth[7:]:
        return json_reply(401, {"statusCode": 401, "name": "missing_api_key", "message": "Missing API key"})
    if not key_ok(state, "resend", auth[7:]):
        return json_reply(
            403, {"statusCode": 403, "name": "invalid_api_key", "message": "API key is invalid"}
        )
    key = headers.get("Idempotency-Key")
    digest = hashlib.sha256(body).hexdigest()
    if fault and fault.name == "idempotency_conflict":
        return _resend_conflict()
    if key:
        with state.lock:
            seen = state.idempotency.get(key)
            if seen is None and key in state.in_flight:
                return json_reply(
                    409,
                    {
                        "statusCode": 409,
                        "name": "concurrent_idempotent_requests",
                        "message": "Same idempotency key used while original request is still in progress.",
                    },
                )
            if seen is None:
                state.in_flight.add(key)
        if seen is not None:
            return seen[1] if seen[0] == digest else _resend_conflict()
    try:
        reply = _resend_send(state, headers, path, body, key)
    finally:
        if key:
            with state.lock:
                state.in_flight.discard(key)
    if key and reply.status == 200:
        with state.lock:
            state.idempotency[key] = (digest, reply)
    return reply


def _resend_conflict() -> Reply:
    return json_reply(
        409,
        {
            "statusCode": 409,
            "name": "invalid_idempotent_request",
            "message": "Same idempotency key used with a different request payload.",
        },
    )


def _resend_send(state: State, headers: Message, path: str, body: bytes, key: str | None) -> Reply:
    def invalid(message: str) -> Reply:
        return json_reply(422, {"statusCode": 422, "name": "validation_error", "message": message})

    try:
        emails = json.loads(body)
    except ValueError:
        return invalid("The request body is not valid JSON.")
    state.record_request(RecordedRequest("resend", path, dict(headers), emails))
    if not isinstance(emails, list) or not emails:
        return invalid("The request body must be a non-empty array of emails.")
    if len(emails) > LIMITS["resend"]:
        return invalid("Too many emails in the batch: the maximum is 100.")
    for email in emails:
        problem = _resend_problem(state, email)
        if problem:
            return invalid(problem)
    entries = [(bare_address(_first(e["to"])), str(uuid.uuid4())) for e in emails]
    state.record_accepted("resend", entries, key)
    return json_reply(200, {"data": [{"id": mid} for _, mid in entries]})


def _first(to: str | list[str]) -> str:
    return to if isinstance(to, str) else to[0]


def _resend_problem(state: State, email: Any) -> str:
    if not isinstance(email, dict):
        return "Each email must be an object."
    for name in ("from", "to", "subject"):
        if not email.get(name):
            return f"The `{name}` field is missing."
    if not (email.get("html") or email.get("text")):
        return "Either `html` or `text` is required."
    to = email["to"]
    addresses = [to] if isinstance(to, str) else to
    if not isinstance(addresses, list) or len(addresses) > 50:
        return "Invalid `to` field: at most 50 addresses."
    if any(not state.is_valid(bare_address(str(a))) for a in addresses):
        return (
            "Invalid `to` field. The email address needs to follow the "
            "`email@example.com` or `Name <email@example.com>` format."
        )
    for tag in email.get("tags", []):
        if not (
            isinstance(tag, dict)
            and RESEND_TAG.match(str(tag.get("name", "")))
            and RESEND_TAG.match(str(tag.get("value", "")))
        ):
            return "Tags should only contain ASCII letters (a–z, A–Z), numbers (0–9), underscores (_), or dashes (-)."
    headers = email.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return "The `headers` field must map names to strings."
    return ""


# -- Brevo --------------------------------------------------------------------
def brevo(state: State, headers: Message, path: str, body: bytes, fault: Fault | None) -> Reply:
    if not key_ok(state, "brevo", headers.get("api-key")):
        return json_reply(401, {"code": "unauthorized", "message": "Key not found"})
    try:
        email = json.loads(body)
    except ValueError:
        return json_reply(400, {"code": "bad_request", "message": "Input must be a valid JSON object"})
    state.record_request(RecordedRequest("brevo", path, dict(headers), email))
    problem = _brevo_problem(state, email)
    if problem:
        return json_reply(400, {"code": "invalid_parameter", "message": problem})
    key = (email.get("headers") or {}).get("idempotencyKey")
    if key:
        with state.lock:
            seen = key in state.idempotency
            if not seen:  # Brevo answers a repeat with an error, not with the first answer
                state.idempotency[key] = ("", Reply(201))
        if seen:
            return json_reply(
                400, {"code": "duplicate_parameter", "message": "The idempotencyKey has already been used"}
            )
    message_id = f"<{state.next_id('brevo')}@smtp-relay.mailin.fr>"
    state.record_accepted("brevo", [(email["to"][0]["email"], message_id)], key)
    return json_reply(201, {"messageId": message_id})


def _brevo_problem(state: State, email: Any) -> str:
    if not isinstance(email, dict):
        return "Input must be a valid JSON object"
    sender = email.get("sender")
    if not isinstance(sender, dict) or not state.is_valid(str(sender.get("email", ""))):
        return "sender is missing or not valid"
    if "messageVersions" in email:
        return "emulator: the adapter sends one message per request (versions cannot carry headers)"
    to = email.get("to")
    if not isinstance(to, list) or len(to) != LIMITS["brevo"]:
        return "emulator: exactly one recipient in to per request"
    if not all(isinstance(t, dict) and state.is_valid(str(t.get("email", ""))) for t in to):
        return "email is not valid in to"
    if not email.get("subject"):
        return "subject is missing"
    if not (email.get("htmlContent") or email.get("textContent")):
        return "htmlContent or textContent is missing"
    headers = email.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return "headers must map names to strings"
    tags = email.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "tags must be a list of strings"
    return ""


# -- Amazon SES (API v2) --------------------------------------------------------
# botocore's sesv2 model: a header name; SES's documented rule for tag names and values.
_SES_HEADER_NAME = re.compile(r"^[!-9;-@A-~]+$")
_SES_HEADER_VALUE = re.compile(r"[ -~]{1,995}")
# Tag names SES reserves (and accepts despite the colon): their values open its Feedback-ID header.
_SES_RESERVED_TAGS = frozenset({"ses:feedback-id-a", "ses:feedback-id-b"})


def ses(state: State, headers: Message, path: str, body: bytes, fault: Fault | None) -> Reply:
    refusal = signature_refusal(state.keys, headers, path, body)
    if refusal is not None:
        return refusal
    try:
        request = json.loads(body)
    except ValueError:
        return aws_error(400, "BadRequestException", "The request body is not valid JSON.")
    state.record_request(RecordedRequest("ses", path, dict(headers), request))
    problem = _ses_problem(state, request)
    if problem:
        return aws_error(400, "BadRequestException", problem)
    to = parseaddr(request["Destination"]["ToAddresses"][0])[1]
    if fault and fault.name == "message_error":
        address = fault.params.get("address")
        if address is None or address.lower() == to.lower():
            default = f"Email address is not verified. The following identities failed the check in region EU-NORTH-1: {to}"
            return aws_error(
                int(fault.params.get("status", 400)),
                str(fault.params.get("code", "MessageRejected")),
                str(fault.params.get("message", default)),
            )
    message_id = f"0100019{uuid.uuid4().hex[:9]}-{uuid.uuid4()}-000000"
    state.record_accepted("ses", [(to, message_id)], None)
    return json_reply(200, {"MessageId": message_id})


def _ses_problem(state: State, request: Any) -> str:
    """SES's refusal of ``request`` (400 BadRequestException), or "" when it would send it."""
    problems = model_problems(request)
    if problems:
        return f"{len(problems)} validation error(s) detected: {problems[0]}"
    simple = request["Content"].get("Simple")
    if simple is None:
        return "emulator: the adapter sends Content.Simple"
    if not request.get("FromEmailAddress"):
        return "emulator: FromEmailAddress is required (no default identity here)"
    destination = request.get("Destination") or {}
    if set(destination) != {"ToAddresses"} or len(destination["ToAddresses"]) != LIMITS["ses"]:
        return "emulator: exactly one address in Destination.ToAddresses per request (and no Cc or Bcc)"
    addresses = [
        request["FromEmailAddress"],
        *destination["ToAddresses"],
        *request.get("ReplyToAddresses", []),
    ]
    for written in addresses:
        if not written.isascii():
            return (
                "Email address is not 7-bit ASCII: encode the domain in Punycode and the name per RFC 2047."
            )
        if not state.is_valid(parseaddr(written)[1]):
            return "Illegal address"
    if not simple["Body"]:
        return "emulator: the body needs Text or Html"
    for header in simple.get("Headers", []):
        if not _SES_HEADER_NAME.match(header["Name"]) or not _SES_HEADER_VALUE.fullmatch(header["Value"]):
            return (
                f"Invalid header {header['Name'][:40]!r}: printable ASCII only, values up to 995 characters."
            )
    for tag in request.get("EmailTags", []):
        name_ok = RESEND_TAG.match(tag["Name"]) or tag["Name"] in _SES_RESERVED_TAGS
        if not (name_ok and RESEND_TAG.match(tag["Value"])):
            return "Tag names and values may contain only ASCII letters, numbers, underscores and dashes."
    return ""


def garble(provider: str, reply: Reply, shape: str) -> Reply:
    """The accepted ``reply`` as a confused proxy or a broken API version might hand it back (200)."""
    text = {"Content-Type": "application/json"}
    if provider == "sendgrid" or shape == "not_json":  # SendGrid's success has no body to garble
        return Reply(200, b"<html><body>OK</body></html>", {"Content-Type": "text/html"})
    if shape == "truncated":
        return Reply(200, reply.body[: len(reply.body) // 2], text)
    data = json.loads(reply.body)
    if provider == "postmark":
        if shape == "ok_strings":
            return json_reply(200, ["OK"] * len(data))
        if shape == "wrong_length":
            return json_reply(200, data[:-1])
        return json_reply(200, [{k: v for k, v in e.items() if k != "MessageID"} for e in data])
    if provider == "ses":
        return json_reply(200, {"ok_strings": ["OK"], "wrong_length": {"MessageId": ""}}.get(shape, {}))
    if provider == "brevo":
        if shape == "missing_ids":
            return json_reply(201, {})
        return json_reply(201, {"messageIds": []} if shape == "wrong_length" else ["OK"])
    if provider == "resend":
        if shape == "wrong_length":
            return json_reply(200, {"data": data["data"][:-1]})
        if shape == "missing_ids":
            return json_reply(200, {"data": [{} for _ in data["data"]]})
        return json_reply(200, ["OK"] * len(data["data"]))
    # mailgun: one id for the request
    return json_reply(200, {"message": "Queued. Thank you."} if shape != "ok_strings" else ["OK"])


ENDPOINTS = {
    "postmark": postmark,
    "sendgrid": sendgrid,
    "mailgun": mailgun,
    "resend": resend,
    "brevo": brevo,
    "ses": ses,
}
