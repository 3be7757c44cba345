"""What the SES endpoint of the emulator checks the way AWS does: the SigV4 signature, and the
request body against SES's own API model (``sesv2/2019-09-27``, shipped inside botocore).

The signature is recomputed with botocore's signer from the request as received, so a request
signed over other headers, another body, another region scope or with another secret fails the
way AWS refuses it (403 and an ``x-amzn-ErrorType``).
"""

from __future__ import annotations

import functools
import hmac
import re
from datetime import UTC, datetime
from email.message import Message
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.loaders import Loader
from botocore.model import ServiceModel, Shape

from tests.emulator.state import Reply, json_reply

SIGNING_NAME = "ses"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/"
    r"(?P<service>[a-z0-9-]+)/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_MAX_CLOCK_SKEW = 5 * 60


def aws_error(status: int, code: str, message: str) -> Reply:
    """An AWS REST-JSON error: the code in ``x-amzn-ErrorType``, the text in ``message``."""
    return json_reply(
        status,
        {"message": message},
        {"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"},
    )


def signature_refusal(keys: dict[str, str], headers: Message, path: str, body: bytes) -> Reply | None:
    """None when the request is signed as AWS requires; else AWS's 403.

    ``keys["ses"]`` is ``ACCESS_KEY_ID:SECRET_ACCESS_KEY``; without it the emulator checks the
    signature's shape and scope only (any key is taken).
    """
    authorization = headers.get("Authorization", "")
    if not authorization:
        return aws_error(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    parts = _AUTHORIZATION.fullmatch(authorization)
    if parts is None:
        return aws_error(
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' (AWS4-HMAC-SHA256)",
        )
    if parts["service"] != SIGNING_NAME:
        return aws_error(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to correct service: '{SIGNING_NAME}'.",
        )
    signed = parts["signed"].split(";")
    if not {"host", "x-amz-date"} <= set(signed) or any(headers.get(name) is None for name in signed):
        return aws_error(403, "InvalidSignatureException", "host and x-amz-date must be signed, and present")
    amz_date = str(headers.get("X-Amz-Date"))
    try:
        stamped = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        return aws_error(403, "IncompleteSignatureException", f"X-Amz-Date {amz_date!r} is not a SigV4 date")
    if amz_date[:8] != parts["date"]:
        return aws_error(
            403, "InvalidSignatureException", "Date in Credential scope does not match X-Amz-Date"
        )
    if abs((datetime.now(UTC) - stamped).total_seconds()) > _MAX_CLOCK_SKEW:
        return aws_error(
            403, "InvalidSignatureException", "Signature expired: the request's time is too far from now"
        )
    expected = keys.get("ses")
    if expected is None:
        return None
    key_id, _, secret = expected.partition(":")
    if parts["key"] != key_id:
        return aws_error(
            403, "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    if not hmac.compare_digest(
        _signature(headers, signed, path, body, parts["region"], key_id, secret), parts["signature"]
    ):
        return aws_error(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return None


def _signature(
    headers: Message, signed: list[str], path: str, body: bytes, region: str, key_id: str, secret: str
) -> str:
    """The signature botocore computes for the request as received, at its own X-Amz-Date."""
    request = AWSRequest(
        method="POST",
        url=f"http://{headers['Host']}{path}",
        data=body,
        headers={name: str(headers[name]) for name in signed if name != "host"},
    )
    request.context["timestamp"] = str(headers["X-Amz-Date"])
    signer = SigV4Auth(Credentials(key_id, secret), SIGNING_NAME, region)
    canonical = signer.canonical_request(request)
    return str(signer.signature(signer.string_to_sign(request, canonical), request))


@functools.cache
def send_email_shape() -> Shape:
    """``SendEmailRequest`` from the SES v2 model inside the installed botocore."""
    model = ServiceModel(Loader().load_service_model("sesv2", "service-2"), "sesv2")
    return model.operation_model("SendEmail").input_shape


def model_problems(value: Any) -> list[str]:
    """Where ``value`` breaks SES's ``SendEmailRequest`` shape: members, types, required, lengths,
    patterns and enums as the model states them (Smithy patterns are not anchored)."""
    problems: list[str] = []
    _check(send_email_shape(), value, "SendEmailRequest", problems)
    return problems


def _check(shape: Shape, value: Any, where: str, problems: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append(f"{where}: must be an object")
            return
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(f"{where}.{name}: is required")
        for name, item in value.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{where}.{name}: is not a member of {shape.name}")
            elif item is not None:
                _check(member, item, f"{where}.{name}", problems)
        return
    if kind == "list":
        if not isinstance(value, list):
            problems.append(f"{where}: must be a list")
            return
        _lengths(shape, len(value), where, problems)
        for index, item in enumerate(value):
            _check(shape.member, item, f"{where}[{index}]", problems)
        return
    if kind in ("string", "blob"):
        if not isinstance(value, str):
            problems.append(f"{where}: must be a string")
            return
        _lengths(shape, len(value), where, problems)
        pattern = shape.metadata.get("pattern")
        if pattern and re.search(pattern, value) is None:
            problems.append(f"{where}: must match {pattern}")
        if shape.enum and value not in shape.enum:
            problems.append(f"{where}: must be one of {', '.join(shape.enum)}")
        return
    if kind == "boolean" and not isinstance(value, bool):
        problems.append(f"{where}: must be true or false")
    elif kind in ("integer", "long") and (isinstance(value, bool) or not isinstance(value, int)):
        problems.append(f"{where}: must be a whole number")


def _lengths(shape: Shape, length: int, where: str, problems: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and length < low:
        problems.append(f"{where}: length {length} is below the minimum {low}")
    if high is not None and length > high:
        problems.append(f"{where}: length {length} is above the maximum {high}")
