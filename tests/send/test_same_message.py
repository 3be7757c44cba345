"""Build, preview, checks and send personalise through the same builders (newsletter.message).

The message a reviewer opens (``build/<slug>/message.eml``), the page the
author previews and what a subscriber receives must not drift apart: same
List-Unsubscribe pair, same sample values.
"""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path

import pytest
from click.testing import CliRunner

from newsletter.build import build
from newsletter.cli import main
from newsletter.config import Settings, load_settings
from newsletter.per_recipient import SAMPLE_LIST_ID, list_headers, list_unsubscribe_headers, sample_recipient
from newsletter.preview.snapshot import Builder
from newsletter.store.db import open_engine
from newsletter.tokens import SAMPLE_SUBSCRIBER_ID, Signer
from tests.conftest import TEST_SECRET_KEY
from tests.send.helpers import subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"
_HTTPS_TARGET = re.compile(r"<https://[^>]+>")


def _read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def _part(message: EmailMessage, kind: str) -> str:
    """The decoded part, with the line ends it had before MIME made them CRLF."""
    body = message.get_body(preferencelist=(kind,))
    assert body is not None
    return str(body.get_content()).replace("\r\n", "\n")


def _cli(settings: Settings, *args: str) -> None:
    result = CliRunner().invoke(main, ["--config", str(settings.path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output


def _built_message(settings: Settings) -> EmailMessage:
    build([settings.issues_dir / f"{ISSUE}.md"], settings)
    return _read(settings.build_dir / ISSUE / "message.eml")


def _outbox_messages(settings: Settings) -> list[EmailMessage]:
    return [_read(path) for path in sorted((settings.provider.options.outbox_dir / ISSUE).glob("*.eml"))]


@pytest.fixture(params=["configured", "unset"])
def mailto_settings(request: pytest.FixtureRequest, project_dir: Path) -> tuple[Settings, str]:
    """Settings with ``[sender] unsubscribe_mailto`` set, or without it; and the mailbox a send uses."""
    path = project_dir / "newsletter.toml"
    if request.param == "unset":
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('unsubscribe_mailto = "afmeld@example.org"\n', ""), encoding="utf-8")
        return load_settings(path), "nyhedsbrev@example.org"  # the sender's own address
    return load_settings(path), "afmeld@example.org"


def test_built_message_has_the_list_unsubscribe_pair_a_real_send_has(
    mailto_settings: tuple[Settings, str],
) -> None:
    settings, mailbox = mailto_settings
    subscribe_many(open_engine(settings.database_url), ["ida@example.com"])
    _cli(settings, "send", ISSUE, "--list", "erhverv", "--yes")
    (sent,) = _outbox_messages(settings)
    built = _built_message(settings)

    mailto = f"<mailto:{mailbox}?subject=unsubscribe>"
    for message in (sent, built):
        assert _HTTPS_TARGET.sub("<URL>", message["List-Unsubscribe"]) == f"<URL>, {mailto}"
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        # The header's link is the one in the body: one unsubscribe URL per message.
        url = message["List-Unsubscribe"].split(">")[0].lstrip("<")
        assert url in _part(message, "html") and url in _part(message, "plain")
        # The same list and campaign; only a send knows the list's title (build reads no database).
        assert message["Feedback-ID"] == f"{ISSUE}:erhverv:example-org"
    assert sent["List-Id"] == "Liste erhverv <erhverv.nyhedsbrev.example.org>"
    assert built["List-Id"] == "<erhverv.nyhedsbrev.example.org>"


def test_build_preview_checks_and_send_test_personalise_the_sample_alike(settings: Settings) -> None:
    built = _built_message(settings)
    preview = Builder(issue_path=settings.issues_dir / f"{ISSUE}.md", settings=settings).build()
    assert preview.error == ""
    # MIME ends each part with a line end.
    assert preview.html.rstrip("\n") == _part(built, "html").rstrip("\n")
    assert preview.text.rstrip("\n") == _part(built, "plain").rstrip("\n")

    # A --test copy to the sample's own address is the same email (its subject aside).
    _cli(settings, "send", ISSUE, "--list", "erhverv", "--test", settings.sample.email)
    (test_copy,) = _outbox_messages(settings)
    assert _part(test_copy, "html") == _part(built, "html")
    assert test_copy["List-Unsubscribe"] == built["List-Unsubscribe"]
    assert (test_copy["List-Id"], test_copy["Feedback-ID"]) == (built["List-Id"], built["Feedback-ID"])


def test_a_test_copy_carries_the_headers_of_the_list_it_is_a_test_for(settings: Settings) -> None:
    _cli(settings, "send", ISSUE, "--list", "borger", "--test", "jrau@balk.dk")
    (test_copy,) = _outbox_messages(settings)
    assert test_copy["Subject"].startswith("[TEST] ")
    assert test_copy["List-Id"] == "<borger.nyhedsbrev.example.org>"
    assert test_copy["Feedback-ID"] == f"{ISSUE}:borger:example-org"


def test_sample_links_act_on_nobody(settings: Settings) -> None:
    recipient = sample_recipient(settings, ISSUE, lang="da")
    token = recipient.values["unsubscribe_url"].rsplit("/u/", 1)[1]
    claim = Signer(TEST_SECRET_KEY).read_unsubscribe(token)
    assert (claim.subscriber_id, claim.list_id, claim.issue) == (SAMPLE_SUBSCRIBER_ID, SAMPLE_LIST_ID, ISSUE)
    assert recipient.headers == {
        **list_unsubscribe_headers(settings, recipient.values["unsubscribe_url"]),
        **list_headers(settings, campaign=ISSUE, list_name=settings.default_list),
    }
    assert recipient.values["web_url"] == f"https://nyhedsbrev.example.org/issues/{ISSUE}"
