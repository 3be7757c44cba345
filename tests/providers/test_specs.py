"""The SendGrid and Resend payloads we build, validated against the providers' official OpenAPI documents."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS31Validator

from newsletter.message import Batch
from newsletter.providers.resend import ResendProvider
from newsletter.providers.sendgrid import SendGridProvider
from tests.providers.conftest import make_batch, make_content, make_recipient

SPECS = Path("/work/shared/specs")
if not SPECS.is_dir():
    SPECS = Path(__file__).resolve().parents[3] / "shared" / "specs"


@cache
def validator(spec_file: str, schema_path: tuple[str, ...]) -> OAS31Validator:
    spec = json.loads((SPECS / spec_file).read_text(encoding="utf-8"))
    node: Any = spec
    for part in schema_path:
        node = node[part]
    schema = {**node, "components": spec["components"]}
    return OAS31Validator(schema, format_checker=OAS31Validator.FORMAT_CHECKER)


def sendgrid_validator() -> OAS31Validator:
    return validator(
        "sendgrid-mail-v3.openapi.json",
        ("components", "requestBodies", "PostMailSend", "content", "application/json", "schema"),
    )


def resend_validator() -> OAS31Validator:
    return validator(
        "resend.openapi.json",
        ("paths", "/emails/batch", "post", "requestBody", "content", "application/json", "schema"),
    )


def batches() -> list[Batch]:
    anonymous = make_recipient(3, name="")
    return [
        make_batch(1),
        make_batch(25, tags=("erhverv", "december")),
        Batch(make_content(reply_to="", issue="", from_name=""), [anonymous]),
        Batch(
            make_content(subject="Æblegrød & ørred — ÅRETS sidste"), [make_recipient(i) for i in range(100)]
        ),
    ]


def offline_client() -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(500)))


@pytest.mark.parametrize("batch", batches(), ids=["one", "tags", "bare", "hundred"])
def test_sendgrid_payload_matches_the_official_schema(batch: Batch) -> None:
    payload = SendGridProvider(offline_client(), "", api_key="k").build_payload(batch)
    sendgrid_validator().validate(payload)


@pytest.mark.parametrize("batch", batches(), ids=["one", "tags", "bare", "hundred"])
def test_resend_payload_matches_the_official_schema(batch: Batch) -> None:
    payload = ResendProvider(offline_client(), "", api_key="k").build_payload(batch)
    resend_validator().validate(payload)


def test_the_schemas_do_catch_mistakes() -> None:
    """Guards the two tests above: the validators reject payloads a careless adapter could build."""
    good = SendGridProvider(offline_client(), "", api_key="k").build_payload(make_batch(1))
    with pytest.raises(ValidationError):  # SendGrid's top-level custom_args is a string, not an object
        sendgrid_validator().validate({**good, "custom_args": {"nl_issue": "x"}})
    with pytest.raises(ValidationError):
        sendgrid_validator().validate({**good, "personalizations": [{"to": [{"email": "x"}]}] * 1001})
    with pytest.raises(ValidationError):
        sendgrid_validator().validate({**good, "from": {"email": "not an address"}})
    emails = ResendProvider(offline_client(), "", api_key="k").build_payload(make_batch(1))
    with pytest.raises(ValidationError):
        resend_validator().validate([{key: value for key, value in emails[0].items() if key != "subject"}])
