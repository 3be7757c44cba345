"""Amazon SES adapter: one signed SendEmail request per recipient, SES's refusals read per message or
for the issue, and every body valid against SES's own API model."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from email.header import decode_header, make_header
from email.utils import parseaddr

import httpx
import pytest
from botocore.credentials import Credentials

from newsletter.errors import ConfigError, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch, Recipient
from newsletter.personalize import merge
from newsletter.providers.base import Outcome
from newsletter.providers.registry import make_provider
from newsletter.providers.ses import SesProvider, endpoint, error_code, ses_address
from tests.emulator import Emulator
from tests.emulator.aws import model_problems
from tests.providers.conftest import (
    KEYS,
    LIST_HEADERS,
    make_batch,
    make_content,
    make_recipient,
    settings_for,
)

KEY_ID = KEYS["NEWSLETTER_SES_ACCESS_KEY_ID"]
SECRET = KEYS["NEWSLETTER_SES_SECRET_ACCESS_KEY"]
BASE = "https://email.eu-north-1.amazonaws.com"
Handler = Callable[[httpx.Request], httpx.Response]
AUTHORIZATION = re.compile(
    rf"AWS4-HMAC-SHA256 Credential={KEY_ID}/\d{{8}}/eu-north-1/ses/aws4_request, "
    r"SignedHeaders=content-type;host;x-amz-date(;x-amz-security-token)?, Signature=[0-9a-f]{64}"
)


def mocked(handler: Handler, **options: object) -> SesProvider:
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return SesProvider(client, BASE, credentials=Credentials(KEY_ID, SECRET), **options)  # type: ignore[arg-type]


def ok(request: httpx.Request) -> httpx.Response:
    to = parseaddr(json.loads(request.content)["Destination"]["ToAddresses"][0])[1]
    return httpx.Response(200, json={"MessageId": f"0100-{to}-000000"})


def refused(status: int, code: str, message: str) -> Handler:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            status,
            json={"message": message},
            headers={"x-amzn-ErrorType": f"{code}:http://internal.amazon.com/coral/com.amazonaws.sesv2/"},
        )

    return answer


def recording(handler: Handler, seen: list[httpx.Request]) -> Handler:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return record


def in_turn(*handlers: Handler) -> Handler:
    queue = iter(handlers)
    return lambda request: next(queue)(request)


# -- the request --------------------------------------------------------------------------------
def test_each_recipient_gets_their_own_signed_request_with_their_headers_and_tags() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2, tags=("erhverv", "jul 2019"))
    results = mocked(recording(ok, seen), configuration_set="nyhedsbrev-events").send_batch(batch)
    assert [str(r.url) for r in seen] == [f"{BASE}/v2/email/outbound-emails"] * 2
    assert AUTHORIZATION.fullmatch(seen[0].headers["authorization"])
    assert re.fullmatch(r"\d{8}T\d{6}Z", seen[0].headers["x-amz-date"])
    assert SECRET not in str(seen[0].headers)
    message = json.loads(seen[1].content)
    html, text = merge(batch.content.html, batch.content.text, batch.recipients[1].values)
    assert message["FromEmailAddress"] == "BusinessBallerup <nyhedsbrev@example.org>"
    assert message["Destination"] == {"ToAddresses": ["Jens Hansen 1 <modtager1@example.com>"]}
    assert message["ReplyToAddresses"] == ["jrau@balk.dk"]
    simple = message["Content"]["Simple"]
    assert simple["Subject"] == {"Data": batch.content.subject, "Charset": "UTF-8"}
    assert simple["Body"] == {
        "Text": {"Data": text, "Charset": "UTF-8"},
        "Html": {"Data": html, "Charset": "UTF-8"},
    }
    assert "token1" in simple["Body"]["Html"]["Data"] and "token0" not in simple["Body"]["Html"]["Data"]
    # SES writes Feedback-ID itself: ours is not a second header, its campaign and list open SES's.
    assert simple["Headers"] == [
        {"Name": "List-Unsubscribe", "Value": batch.recipients[1].headers["List-Unsubscribe"]},
        {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"},
        {"Name": "List-Id", "Value": LIST_HEADERS["List-Id"]},
    ]
    assert {t["Name"]: t["Value"] for t in message["EmailTags"]} == {
        "nl_issue": "2019-12-20-tak-for-et-godt-2019",
        "nl_subscriber": "1001",
        "nl_delivery": "5001",
        "nl_tag_1": "erhverv",
        "nl_tag_2": "jul_2019",  # SES tags hold letters, digits, _ and - only
        "ses:feedback-id-a": "2019-12-20-tak-for-et-godt-2019",
        "ses:feedback-id-b": "erhverv",
    }
    assert message["ConfigurationSetName"] == "nyhedsbrev-events"
    assert [r.message_id for r in results] == [
        "0100-modtager0@example.com-000000",
        "0100-modtager1@example.com-000000",
    ]


def test_temporary_credentials_send_their_session_token_signed() -> None:
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(recording(ok, seen)))
    provider = SesProvider(client, BASE, credentials=Credentials(KEY_ID, SECRET, "session-token-SECRET-123"))
    provider.send_batch(make_batch(1))
    assert seen[0].headers["x-amz-security-token"] == "session-token-SECRET-123"
    assert "x-amz-security-token" in seen[0].headers["authorization"]


def test_addresses_are_seven_bit_ascii_as_ses_requires() -> None:
    assert ses_address("Søren Ærø", "soren@example.dk") == "=?utf-8?b?U8O4cmVuIMOGcsO4?= <soren@example.dk>"
    assert (
        str(make_header(decode_header(ses_address("Søren Ærø", "soren@example.dk").split(" <")[0])))
        == "Søren Ærø"
    )
    assert ses_address("Hansen, Jens", "jens@example.dk") == '"Hansen, Jens" <jens@example.dk>'
    assert ses_address(None, "jens@bøgeskov.dk") == "jens@xn--bgeskov-q1a.dk"
    assert ses_address("", "jens@example.dk") == "jens@example.dk"


def test_an_address_ses_cannot_carry_is_rejected_without_posting_and_not_suppressed() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2)
    batch = Batch(batch.content, [make_recipient(0, email="søren@example.dk"), batch.recipients[1]], "k")
    results = mocked(recording(ok, seen)).send_batch(batch)
    assert [r.outcome for r in results] == [Outcome.REJECTED, Outcome.ACCEPTED]
    assert not results[0].suppress and "SES cannot send to" in results[0].reason
    assert len(seen) == 1


def test_an_address_that_is_not_one_is_rejected_and_suppressed_without_posting() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(2)
    batch = Batch(batch.content, [batch.recipients[0], make_recipient(1, email="ikke en adresse")], "k")
    results = mocked(recording(ok, seen)).send_batch(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED]
    assert results[1].suppress and len(seen) == 1


def test_a_message_that_cannot_be_built_stops_the_batch_before_anything_is_posted() -> None:
    seen: list[httpx.Request] = []
    batch = make_batch(3)
    odd = batch.recipients[2]
    broken = Recipient(
        odd.email, odd.name, odd.values, {**odd.headers, "List-Unsubscribe": "<https://bøger.dk/u>"}
    )
    with pytest.raises(ProviderPermanent, match=r"nothing was sent.*printable ASCII"):
        mocked(recording(ok, seen)).send_batch(Batch(batch.content, [*batch.recipients[:2], broken], "k"))
    assert seen == []  # the two good messages were not posted before the third failed to build


def test_a_sender_ses_cannot_carry_stops_the_issue() -> None:
    with pytest.raises(ProviderPermanent, match=r"nothing was sent.*'søren@example\.dk'.*before the @"):
        mocked(ok).send_batch(make_batch(2, from_email="søren@example.dk"))
    assert mocked(ok).build_payload(make_batch(1, from_email="ny@bøger.dk"))[0]["FromEmailAddress"] == (
        "BusinessBallerup <ny@xn--bger-gra.dk>"
    )


# -- SES's answers ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code"),
    [(429, "TooManyRequestsException"), (400, "LimitExceededException"), (400, "ThrottlingException")],
)
def test_throttling_before_anything_went_out_retries_the_whole_batch(status: int, code: str) -> None:
    with pytest.raises(ProviderRetryable, match=code):
        mocked(refused(status, code, "Maximum sending rate exceeded.")).send_batch(make_batch(3))


def test_throttling_midway_keeps_the_accepted_and_retries_the_rest() -> None:
    limited = refused(429, "TooManyRequestsException", "Maximum sending rate exceeded.")
    results = mocked(in_turn(ok, limited)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.RETRY, Outcome.RETRY]


def test_the_sandbox_refusing_one_recipient_rejects_only_them_without_suppressing() -> None:
    not_verified = refused(
        400,
        "MessageRejected",
        "Email address is not verified. The following identities failed the check in region "
        "EU-NORTH-1: modtager1@example.com",
    )
    results = mocked(in_turn(ok, not_verified, ok)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert not results[1].suppress and "sandbox" in results[1].reason


def test_a_rejection_that_names_the_sender_stops_the_issue() -> None:
    sender_too = refused(
        400,
        "MessageRejected",
        "Email address is not verified. The following identities failed the check in region "
        "EU-NORTH-1: nyhedsbrev@example.org, modtager0@example.com",
    )
    with pytest.raises(ProviderPermanent, match=r"nyhedsbrev@example\.org"):
        mocked(sender_too).send_batch(make_batch(2))


def test_a_bad_request_about_the_recipients_address_rejects_and_suppresses_them() -> None:
    results = mocked(
        in_turn(ok, refused(400, "BadRequestException", "Illegal address: modtager1@example.com"))
    ).send_batch(make_batch(2))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED]
    assert results[1].suppress


def test_a_bad_request_that_names_nobody_stops_the_issue_and_suppresses_nobody() -> None:
    # SES does not say which address is illegal: guessing the recipient could suppress a whole list.
    with pytest.raises(ProviderPermanent, match="BadRequestException: Illegal address"):
        mocked(refused(400, "BadRequestException", "Illegal address")).send_batch(make_batch(2))


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        ("MailFromDomainNotVerifiedException", "MAIL FROM domain"),
        ("AccountSuspendedException", "may no longer send"),
        ("SendingPausedException", "paused"),
        ("NotFoundException", "ses_configuration_set"),
        ("MessageRejected", "Message rejected"),
    ],
)
def test_refusals_of_the_account_or_the_content_stop_the_issue_with_advice(code: str, advice: str) -> None:
    status = 404 if code == "NotFoundException" else 400
    with pytest.raises(ProviderPermanent, match=advice):
        mocked(refused(status, code, "Message rejected: the content was refused.")).send_batch(make_batch(2))


def test_a_refusal_of_the_issue_midway_keeps_the_accepted_and_leaves_the_rest_queued() -> None:
    paused = refused(400, "SendingPausedException", "Sending is paused for this account.")
    results = mocked(in_turn(ok, paused)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.RETRY]
    assert "paused" in results[2].reason


@pytest.mark.parametrize(
    ("code", "message", "advice"),
    [
        (
            "InvalidSignatureException",
            "The request signature we calculated does not match",
            "NEWSLETTER_SES_SECRET_ACCESS_KEY",
        ),
        (
            "UnrecognizedClientException",
            "The security token included in the request is invalid.",
            "NEWSLETTER_SES_ACCESS_KEY_ID",
        ),
        (
            "AccessDeniedException",
            "User is not authorized to perform: ses:SendEmail",
            "allow its IAM user ses:SendEmail",
        ),
        ("InvalidSignatureException", "Signature expired: 20260101T000000Z is now earlier than …", "clock"),
    ],
)
def test_a_refused_key_says_what_to_check_and_never_shows_it(code: str, message: str, advice: str) -> None:
    with pytest.raises(ProviderPermanent, match=advice) as caught:
        mocked(refused(403, code, message)).send_batch(make_batch(2))
    assert SECRET not in str(caught.value)


def test_the_error_code_is_read_from_the_header_or_the_body() -> None:
    assert (
        error_code(httpx.Response(400, headers={"x-amzn-ErrorType": "MessageRejected:http://x/"}), {})
        == "MessageRejected"
    )
    assert (
        error_code(httpx.Response(400), {"__type": "com.amazonaws.sesv2#LimitExceededException"})
        == "LimitExceededException"
    )
    assert error_code(httpx.Response(400), None) == ""


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, json={}),
        httpx.Response(200, text="OK"),
        httpx.Response(202, json={"MessageId": "x"}),
    ],
    ids=["no-id", "not-json", "202"],
)
def test_an_answer_we_cannot_read_is_unknown_and_the_rest_is_not_posted(answer: httpx.Response) -> None:
    seen: list[httpx.Request] = []
    results = mocked(recording(lambda r: answer, seen)).send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.UNKNOWN, Outcome.RETRY, Outcome.RETRY]
    assert len(seen) == 1


# -- SES's own API model ------------------------------------------------------------------------
def test_every_request_body_matches_the_sesv2_model() -> None:
    provider = mocked(ok, configuration_set="events")
    bare = Batch(make_content(reply_to="", issue="", from_name=""), [make_recipient(3, name="")])
    for batch in (make_batch(50, tags=("erhverv", "december")), bare, make_batch(2, key=None)):
        for message in provider.build_payload(batch):
            assert model_problems(message) == []


def test_the_model_catches_what_ses_would_not_accept() -> None:
    good = mocked(ok).build_payload(make_batch(1))[0]
    simple = good["Content"]["Simple"]
    too_many_headers = {**simple, "Headers": [{"Name": f"X-{i}", "Value": "v"} for i in range(16)]}
    assert model_problems({**good, "Content": {"Simple": too_many_headers}})
    assert model_problems({**good, "Content": {"Simple": {"Body": simple["Body"]}}})  # no Subject
    assert model_problems({**good, "Destination": {"To": ["a@example.com"]}})  # not a member
    assert model_problems({**good, "EmailTags": [{"Name": "nl_issue"}]})  # no Value
    bad_name = {**simple, "Headers": [{"Name": "List Unsubscribe", "Value": "v"}]}
    assert model_problems({**good, "Content": {"Simple": bad_name}})


# -- settings and secrets -----------------------------------------------------------------------
def test_the_region_chooses_the_host_and_eu_north_1_is_the_default(provider_keys: dict[str, str]) -> None:
    assert make_provider(settings_for("ses").provider).base_url == "https://email.eu-north-1.amazonaws.com"
    frankfurt = make_provider(settings_for("ses", ses_region="eu-central-1").provider)
    assert isinstance(frankfurt, SesProvider)
    assert (frankfurt.base_url, frankfurt.region) == (
        "https://email.eu-central-1.amazonaws.com",
        "eu-central-1",
    )
    assert endpoint("cn-north-1") == "https://email.cn-north-1.amazonaws.com.cn"
    assert SECRET not in repr(frankfurt) and KEY_ID not in repr(frankfurt)


def test_a_base_url_in_another_region_than_ses_region_is_one_clear_line(
    provider_keys: dict[str, str],
) -> None:
    settings = settings_for("ses", "https://email.eu-west-1.amazonaws.com", ses_region="eu-north-1")
    with pytest.raises(
        ConfigError,
        match=r'base_url: .* is SES in eu-west-1, but ses_region is .eu-north-1. — set ses_region = "eu-west-1"',
    ):
        make_provider(settings.provider)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        (
            "ses_region",
            "Europe (Stockholm)",
            r"\[provider\] ses_region: 'Europe \(Stockholm\)' is not an AWS region",
        ),
        ("ses_configuration_set", "news letter", r"\[provider\] ses_configuration_set: 'news letter' is not"),
    ],
)
def test_bad_ses_settings_are_one_line_naming_the_field(field: str, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        settings_for("ses", **{field: value})


def test_the_configuration_set_is_read_from_the_settings(provider_keys: dict[str, str]) -> None:
    provider = make_provider(settings_for("ses", ses_configuration_set="nyhedsbrev_events").provider)
    assert isinstance(provider, SesProvider) and provider.configuration_set == "nyhedsbrev_events"


def test_missing_keys_are_named_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SES_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("NEWSLETTER_SES_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(
        ConfigError, match="NEWSLETTER_SES_ACCESS_KEY_ID and NEWSLETTER_SES_SECRET_ACCESS_KEY are not set"
    ):
        make_provider(settings_for("ses").provider)
    monkeypatch.setenv("NEWSLETTER_SES_SECRET_ACCESS_KEY", SECRET)
    with pytest.raises(ConfigError, match="NEWSLETTER_SES_ACCESS_KEY_ID is not set") as caught:
        make_provider(settings_for("ses").provider)
    assert SECRET not in str(caught.value)


# -- through the emulator -----------------------------------------------------------------------
def test_sends_through_the_emulator_which_checks_the_signature(
    emulator: Emulator, provider_keys: dict[str, str]
) -> None:
    provider = make_provider(settings_for("ses", emulator.url).provider)
    try:
        results = provider.send_batch(make_batch(5, key="send-2-batch-1"))
    finally:
        provider.close()
    assert all(r.outcome is Outcome.ACCEPTED and r.message_id for r in results)
    assert emulator.count_by_address() == {f"modtager{i}@example.com": 1 for i in range(5)}
    assert {a.message_id for a in emulator.accepted} == {r.message_id for r in results}


def test_the_emulator_refuses_a_wrong_secret_as_aws_does(emulator: Emulator, http: httpx.Client) -> None:
    provider = SesProvider(http, emulator.url, credentials=Credentials(KEY_ID, "not-the-secret"))
    with pytest.raises(
        ProviderPermanent, match=r"InvalidSignatureException.*NEWSLETTER_SES_SECRET_ACCESS_KEY"
    ):
        provider.send_batch(make_batch(1))
    assert emulator.accepted_count() == 0


def test_a_recipient_the_emulated_sandbox_refuses_is_rejected_and_the_others_go(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.inject("message_error", provider="ses", every=2)  # the second request of the batch
    provider = SesProvider(http, emulator.url, credentials=Credentials(KEY_ID, SECRET))
    results = provider.send_batch(make_batch(3))
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.REJECTED, Outcome.ACCEPTED]
    assert emulator.count_by_address() == {"modtager0@example.com": 1, "modtager2@example.com": 1}


@pytest.mark.parametrize("fault", ["server_error", "processed_then_error", "drop_after", "unreadable_ok"])
def test_a_fault_midway_makes_that_message_unknown_and_leaves_the_rest_unsent(
    emulator: Emulator, http: httpx.Client, fault: str
) -> None:
    emulator.inject(fault, provider="ses", status=502, every=2)  # the second request of the batch
    results = SesProvider(http, emulator.url, credentials=Credentials(KEY_ID, SECRET)).send_batch(
        make_batch(3)
    )
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.UNKNOWN, Outcome.RETRY]
    assert "modtager2@example.com" not in emulator.count_by_address()
