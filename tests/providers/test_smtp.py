"""The SMTP provider against a real SMTP server on 127.0.0.1 (aiosmtpd), faults included."""

from __future__ import annotations

from pathlib import Path

import pytest

from newsletter.errors import ConfigError, ProviderPermanent, ProviderRetryable
from newsletter.message import Batch
from newsletter.providers.base import Outcome
from newsletter.providers.registry import make_provider
from newsletter.providers.smtp import SmtpProvider, SmtpServer
from tests.providers.conftest import (
    LIST_HEADERS,
    LIST_TITLE,
    make_batch,
    make_content,
    make_recipient,
    settings_for,
)
from tests.smtp_relay import Relay, free_port, running_relay, self_signed

PASSWORD = "smtp-SECRET-pass-9d8c7b"


def plain(relay: Relay, **options: object) -> SmtpProvider:
    return SmtpProvider(SmtpServer("127.0.0.1", relay.port, "none", timeout=5.0), **options)  # type: ignore[arg-type]


def batch_of(numbers: range | list[int], **content: object) -> Batch:
    return Batch(make_content(**content), [make_recipient(i) for i in numbers])


def test_each_recipient_gets_the_outbox_message_and_one_connection_serves_two_batches() -> None:
    with Relay() as relay:
        provider = plain(relay)
        first = provider.send_batch(batch_of(range(3)))
        second = provider.send_batch(batch_of(range(3, 5)))
        provider.close()

    assert [r.outcome for r in first + second] == [Outcome.ACCEPTED] * 5
    assert relay.connections == 1
    assert relay.handler.count_by_address() == {f"modtager{i}@example.com": 1 for i in range(5)}
    one = relay.handler.received[1]
    assert one.sender == "nyhedsbrev@example.org"
    assert one.recipients == ["modtager1@example.com"]
    message = one.message
    assert message["Message-ID"] == first[1].message_id
    assert message["To"].addresses[0].addr_spec == "modtager1@example.com"
    assert message["Subject"] == "Nyhedsbrev: Tak for et godt år — æøå"
    assert message["List-Unsubscribe"] == (
        "<https://nyhedsbrev.example.org/u/token1>, <mailto:afmeld@example.org?subject=unsubscribe>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == f"{LIST_TITLE} <erhverv.nyhedsbrev.example.org>"
    assert message["Feedback-ID"] == LIST_HEADERS["Feedback-ID"]
    text = message.get_body(("plain",))
    assert text is not None and "Kære Jens Hansen 1," in text.get_content()


def test_a_line_starting_with_a_dot_arrives_intact() -> None:
    # SMTP ends a message with a line holding one dot: ours must be escaped, not end it early.
    with Relay() as relay:
        provider = plain(relay)
        results = provider.send_batch(batch_of([0], text=".\n.. two dots\nend\n"))
        provider.close()
    assert results[0].outcome is Outcome.ACCEPTED
    body = relay.handler.received[0].message.get_body(("plain",))
    assert body is not None and body.get_content().splitlines() == [".", ".. two dots", "end"]


def test_starttls_with_the_organisations_own_ca(tmp_path: Path) -> None:
    context, ca_file = self_signed(tmp_path)
    with Relay(tls=context) as relay:
        trusted = SmtpProvider(SmtpServer("127.0.0.1", relay.port, "starttls", timeout=5.0, ca_file=ca_file))
        assert trusted.send_batch(batch_of(range(2)))[0].outcome is Outcome.ACCEPTED
        trusted.close()
        # Without the CA the certificate is refused: verification is never switched off.
        untrusted = SmtpProvider(SmtpServer("127.0.0.1", relay.port, "starttls", timeout=5.0))
        with pytest.raises(ProviderPermanent, match="smtp_ca_file") as refused:
            untrusted.send_batch(batch_of([5]))
    assert "could not be verified" in str(refused.value)
    assert relay.handler.count_by_address() == {"modtager0@example.com": 1, "modtager1@example.com": 1}


def test_implicit_tls(tmp_path: Path) -> None:
    context, ca_file = self_signed(tmp_path)
    with Relay(tls=context, implicit_tls=True) as relay:
        provider = SmtpProvider(SmtpServer("127.0.0.1", relay.port, "tls", timeout=5.0, ca_file=ca_file))
        assert [r.outcome for r in provider.send_batch(batch_of(range(2)))] == [Outcome.ACCEPTED] * 2
        provider.close()


def test_login_and_a_wrong_password(tmp_path: Path) -> None:
    context, ca_file = self_signed(tmp_path)
    with Relay(tls=context, auth=("nyhedsbrev@example.org", PASSWORD)) as relay:

        def provider(password: str) -> SmtpProvider:
            server = SmtpServer("127.0.0.1", relay.port, "starttls", "nyhedsbrev@example.org", 5.0, ca_file)
            return SmtpProvider(server, password=password)

        good = provider(PASSWORD)
        assert good.send_batch(batch_of([0]))[0].outcome is Outcome.ACCEPTED
        good.close()
        wrong = "wrong-SECRET-guess-123"
        with pytest.raises(ProviderPermanent) as refused:
            provider(wrong).send_batch(batch_of([1]))
    message = str(refused.value)
    assert "NEWSLETTER_SMTP_PASSWORD" in message and "smtp_username" in message and "535" in message
    assert "\n" not in message
    assert wrong not in message and PASSWORD not in message
    assert relay.handler.count_by_address() == {"modtager0@example.com": 1}


def test_the_password_never_shows_in_repr() -> None:
    provider = SmtpProvider(SmtpServer("127.0.0.1", 25, "none", "ib"), password=PASSWORD)
    assert PASSWORD not in repr(provider)


def test_a_refused_address_is_rejected_and_the_others_are_sent() -> None:
    with Relay() as relay:
        relay.handler.rcpt_replies["modtager1@example.com"] = "550 5.1.1 User unknown"
        relay.handler.rcpt_replies["modtager2@example.com"] = "550 5.7.1 Relaying denied by policy"
        relay.handler.rcpt_replies["modtager3@example.com"] = "451 4.3.0 Try again later"
        relay.handler.rcpt_replies["modtager4@example.com"] = "552 5.2.2 Mailbox full"
        provider = plain(relay)
        results = provider.send_batch(batch_of(range(6)))
        provider.close()

    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.REJECTED,
        Outcome.REJECTED,
        Outcome.RETRY,
        Outcome.RETRY,  # RFC 5321 §4.5.3.1.10: 552 at RCPT is the transient 452
        Outcome.ACCEPTED,
    ]
    assert results[1].suppress and "550 5.1.1 User unknown" in results[1].reason
    assert not results[2].suppress  # a policy refusal is about us, not the address
    assert relay.handler.count_by_address() == {"modtager0@example.com": 1, "modtager5@example.com": 1}
    assert relay.connections == 1  # a refusal is answered with RSET, not a new connection


def test_a_conversation_lost_after_the_message_was_sent_is_unknown_never_retry() -> None:
    with Relay() as relay:
        relay.handler.drop_after_data.add("modtager1@example.com")
        provider = plain(relay)
        results = provider.send_batch(batch_of(range(3)))
        provider.close()

    assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.UNKNOWN, Outcome.ACCEPTED]
    assert "may have been delivered" in results[1].reason
    # The server did get the whole message: reporting it as "retry" would send it twice.
    assert [d.recipients for d in relay.handler.dropped] == [["modtager1@example.com"]]
    assert relay.connections == 2  # the dead conversation is never reused


def test_the_first_message_lost_after_data_stays_unknown_while_the_rest_is_sent() -> None:
    with Relay() as relay:
        relay.handler.drop_after_data.add("modtager0@example.com")
        provider = plain(relay)
        results = provider.send_batch(batch_of(range(2)))
        provider.close()
    assert [r.outcome for r in results] == [Outcome.UNKNOWN, Outcome.ACCEPTED]


def test_a_421_closes_the_connection_and_only_that_message_waits_for_a_retry() -> None:
    with Relay() as relay:
        relay.handler.inject("transient", every=2)  # the 2nd message: 451 at RCPT TO
        relay.handler.inject("closing", every=3)  # the 4th (the 3rd the first fault let pass): 421, hang up
        provider = plain(relay)
        results = provider.send_batch(batch_of(range(6)))
        provider.close()

    assert [r.outcome for r in results] == [
        Outcome.ACCEPTED,
        Outcome.RETRY,
        Outcome.ACCEPTED,
        Outcome.RETRY,
        Outcome.ACCEPTED,
        Outcome.ACCEPTED,
    ]
    assert "451 4.3.0" in results[1].reason and "421 4.3.2" in results[3].reason
    assert relay.handler.faults_left() == []
    assert relay.connections == 2  # the relay hung up after its 421: the next message reopened
    assert relay.handler.count_by_address() == {f"modtager{i}@example.com": 1 for i in (0, 2, 4, 5)}


def test_the_relay_process_counts_a_message_it_took_before_dropping_the_connection() -> None:
    """The kill-and-resume test's relay: its own process, driven over stdin, faults queued in turn."""
    with running_relay() as relay:
        relay.inject("drop_after", every=2)
        relay.inject("slow", times=100, seconds=0.01)
        provider = SmtpProvider(SmtpServer(relay.host, relay.port, "none", timeout=5.0))
        results = provider.send_batch(batch_of(range(3)))
        provider.close()
        assert [r.outcome for r in results] == [Outcome.ACCEPTED, Outcome.UNKNOWN, Outcome.ACCEPTED]
        # The dropped message was delivered: only "unknown" keeps it from being sent twice.
        assert relay.count_by_address() == {f"modtager{i}@example.com": 1 for i in range(3)}
        assert relay.faults_left() == ["slow"]
        with pytest.raises(ValueError, match="unknown relay fault 'late'"):
            relay.inject("late")


def test_a_server_restart_between_batches_reconnects() -> None:
    relay = Relay().start()
    provider = plain(relay)
    try:
        assert provider.send_batch(batch_of([0]))[0].outcome is Outcome.ACCEPTED
        relay.stop()  # the kept connection dies with the server
        relay = Relay(port=relay.port, handler=relay.handler).start()
        assert provider.send_batch(batch_of([1]))[0].outcome is Outcome.ACCEPTED
    finally:
        provider.close()
        relay.stop()
    assert relay.handler.count_by_address() == {"modtager0@example.com": 1, "modtager1@example.com": 1}
    assert relay.connections == 1  # the new server saw one new connection


def test_no_server_is_retryable() -> None:
    provider = SmtpProvider(SmtpServer("127.0.0.1", free_port(), "none", timeout=2.0))
    with pytest.raises(ProviderRetryable, match="could not connect"):
        provider.send_batch(batch_of([0]))


def test_settings_build_the_provider_and_refuse_plain_smtp_across_a_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSLETTER_SMTP_PASSWORD", PASSWORD)
    settings = settings_for("smtp", smtp_host="smtp.office365.com", smtp_username="nyhedsbrev@ballerup.dk")
    provider = make_provider(settings.provider)
    assert isinstance(provider, SmtpProvider)
    assert provider.server == SmtpServer(
        "smtp.office365.com", 587, "starttls", "nyhedsbrev@ballerup.dk", 30.0, None
    )
    assert provider.max_batch == settings.provider.batch_size == 100
    assert settings_for("smtp", smtp_host="mail.example.dk", smtp_security="tls").provider.options.port == 465

    with pytest.raises(ConfigError) as refused:
        settings_for("smtp", smtp_host="mail.example.dk", smtp_security="none")
    assert "127.0.0.1 or localhost" in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(ConfigError, match=r"\[provider\] smtp_host: is required"):
        settings_for("smtp")


def test_a_missing_password_is_one_line_before_anything_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSLETTER_SMTP_PASSWORD", raising=False)
    settings = settings_for("smtp", smtp_host="smtp.office365.com", smtp_username="nyhedsbrev@ballerup.dk")
    with pytest.raises(ConfigError) as missing:
        make_provider(settings.provider)
    message = str(missing.value)
    assert "NEWSLETTER_SMTP_PASSWORD is not set" in message and "nyhedsbrev@ballerup.dk" in message
    assert "\n" not in message
    # A relay that needs no login needs no password.
    assert isinstance(
        make_provider(settings_for("smtp", smtp_host="relay.ballerup.dk").provider), SmtpProvider
    )


def test_a_batch_that_cannot_be_built_sends_nothing() -> None:
    with Relay() as relay:
        provider = plain(relay)
        with pytest.raises(ValueError):
            provider.send_batch(make_batch(101))
        provider.close()
    assert relay.connections == 0
