"""The outbox: one complete, parseable .eml per recipient, idempotent per delivery."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest

from newsletter.errors import ProviderPermanent
from newsletter.message import Batch, Content, Recipient
from newsletter.mime import MimeMessage
from newsletter.providers import _shared as shared_module
from newsletter.providers.base import Outcome
from newsletter.providers.outbox import OutboxProvider, message_file_name
from tests.providers.conftest import LIST_HEADERS, LIST_TITLE, make_batch, make_content, make_recipient

ISSUE = "2019-12-20-tak-for-et-godt-2019"


def read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_writes_one_complete_message_per_recipient(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    batch = make_batch(3)
    results = provider.send_batch(batch)

    files = sorted((tmp_path / "outbox" / ISSUE).iterdir())
    assert [f.name for f in files] == ["5000.eml", "5001.eml", "5002.eml"]
    assert all(r.outcome is Outcome.ACCEPTED for r in results)

    message = read(files[1])
    assert results[1].message_id == message["Message-ID"]
    assert message["From"].addresses[0].display_name == "BusinessBallerup"
    assert message["From"].addresses[0].addr_spec == "nyhedsbrev@example.org"
    assert message["To"].addresses[0].addr_spec == "modtager1@example.com"
    assert message["Reply-To"] == "jrau@balk.dk"
    assert message["Subject"] == "Nyhedsbrev: Tak for et godt år — æøå"
    assert message["List-Unsubscribe"] == (
        "<https://nyhedsbrev.example.org/u/token1>, <mailto:afmeld@example.org?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The list's Danish title reads back as written, from a header line that stays ASCII.
    assert message["List-Id"] == f"{LIST_TITLE} <erhverv.nyhedsbrev.example.org>"
    (line,) = [raw for raw in files[1].read_bytes().split(b"\r\n") if raw.startswith(b"List-Id:")]
    assert line.isascii() and b"=?utf-8?" in line
    assert message["Feedback-ID"] == LIST_HEADERS["Feedback-ID"]
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None and html is not None
    assert "Kære Jens Hansen 1," in text.get_content()
    assert "Afmeld: https://nyhedsbrev.example.org/u/token1" in text.get_content()
    assert '<a href="https://nyhedsbrev.example.org/u/token1">Afmeld</a>' in html.get_content()


def test_values_are_escaped_in_html_and_verbatim_in_text(tmp_path: Path) -> None:
    recipient = make_recipient(7, name='Ib & "Co" <Ltd>')
    OutboxProvider(tmp_path).send_batch(Batch(make_content(), [recipient]))
    message = read(tmp_path / ISSUE / "5007.eml")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Kære Ib &amp; &quot;Co&quot; &lt;Ltd&gt;," in html
    assert 'Kære Ib & "Co" <Ltd>,' in text


def test_sending_the_same_delivery_again_replaces_its_file(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)
    first = provider.send_batch(make_batch(2))
    second = provider.send_batch(make_batch(2))
    files = sorted(p.name for p in (tmp_path / ISSUE).iterdir())
    assert files == ["5000.eml", "5001.eml"]  # no duplicates, no temporary files left
    assert read(tmp_path / ISSUE / "5000.eml")["Message-ID"] == second[0].message_id
    assert first[0].message_id != second[0].message_id


def test_without_delivery_id_the_name_is_a_stable_hash_of_the_address(tmp_path: Path) -> None:
    plain = make_recipient(1)
    recipient = type(plain)(email="Ida@Example.com", name="Ida", values=plain.values, metadata={})
    assert message_file_name(recipient) == message_file_name(recipient)
    assert message_file_name(recipient).startswith("addr-")
    assert "example" not in message_file_name(recipient).lower()  # the address is not readable from it
    OutboxProvider(tmp_path).send_batch(Batch(make_content(), [recipient]))
    assert (tmp_path / ISSUE / message_file_name(recipient)).is_file()


def test_hostile_issue_and_delivery_names_stay_inside_the_outbox(tmp_path: Path) -> None:
    plain = make_recipient(1)
    recipient = type(plain)(
        email=plain.email, name=None, values=plain.values, metadata={"nl_delivery": "../../etc/passwd"}
    )
    OutboxProvider(tmp_path / "outbox").send_batch(Batch(make_content(issue="../evil"), [recipient]))
    written = [p for p in tmp_path.rglob("*.eml")]
    assert len(written) == 1
    assert written[0].is_relative_to(tmp_path / "outbox")


def test_unwritable_outbox_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file where the folder should be")
    with pytest.raises(ProviderPermanent) as caught:
        OutboxProvider(blocker).send_batch(make_batch(1))
    assert "outbox" in str(caught.value)
    assert str(blocker) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_batch_larger_than_maximum_is_refused(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path)
    with pytest.raises(ValueError, match="at most 1000"):
        provider.send_batch(make_batch(1001))
    assert not (tmp_path / ISSUE).exists()


def test_a_write_that_fails_midway_keeps_the_written_ones_sent_and_retries_the_rest(tmp_path: Path) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    batch = make_batch(4)
    # A directory where the third message belongs: moving the file into place fails, like a full disk.
    (provider.folder_for(batch) / message_file_name(batch.recipients[2])).mkdir(parents=True)
    results = provider.send_batch(batch)
    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.RETRY, Outcome.RETRY]
    written = sorted(p.name for p in provider.folder_for(batch).iterdir() if p.is_file())
    assert written == sorted(message_file_name(r) for r in batch.recipients[:2])  # no temp file left


def test_a_message_that_cannot_be_built_writes_nothing_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = OutboxProvider(tmp_path / "outbox")
    good, bad = make_recipient(0), make_recipient(1)
    real_build = shared_module.build_message

    def build_failing_for_the_second(content: Content, recipient: Recipient) -> MimeMessage:
        if recipient is bad:
            raise LookupError("a merge value is missing")
        return real_build(content, recipient)

    monkeypatch.setattr(shared_module, "build_message", build_failing_for_the_second)
    with pytest.raises(ProviderPermanent, match="nothing was sent"):
        provider.send_batch(Batch(make_content(), [good, bad]))
    assert not any(provider.folder_for(Batch(make_content(), [good])).glob("*.eml"))
