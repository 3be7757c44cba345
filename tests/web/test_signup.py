"""Sign-up with double opt-in: the form, its refusals, the confirmation email and the confirm step."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from sqlalchemy import Engine, select

from newsletter.config import Settings
from newsletter.errors import ProviderRetryable
from newsletter.message import Batch
from newsletter.providers.base import Provider, RecipientResult
from newsletter.providers.settings import ProviderSettings
from newsletter.store import subscribers as subscriber_store
from newsletter.store.lists import ListRow
from newsletter.store.schema import consent_log, subscribers
from newsletter.tokens import Signer
from newsletter.web import RateLimits, create_app
from tests.web.conftest import (
    CONSENT,
    AppClient,
    add_member,
    confirm_link,
    count,
    csrf_token,
    membership,
    outbox_messages,
    owner_of,
    sign_up,
    text_part,
)


def test_form_shows_title_description_and_consent_text(client: AppClient) -> None:
    page = client.get("/subscribe/erhverv")
    assert page.status_code == 200
    assert "Erhvervsnyt" in page.text
    assert "Nyt til virksomheder i Ballerup." in page.text
    assert CONSENT in page.text
    assert '<html lang="da">' in page.text
    assert 'name="website"' in page.text  # the honeypot
    assert "nl_csrf" in page.headers["set-cookie"] and "HttpOnly" in page.headers["set-cookie"]


def test_form_in_english_on_request(client: AppClient) -> None:
    page = client.get("/subscribe/erhverv?lang=en")
    assert '<html lang="en">' in page.text
    assert "Your email address" in page.text
    assert 'href="/subscribe/erhverv?lang=da"' in page.text  # the switch back


def test_unknown_list_is_404_page(client: AppClient) -> None:
    page = client.get("/subscribe/nope")
    assert page.status_code == 404
    assert "Siden findes ikke" in page.text
    assert client.post("/subscribe/nope", data={"email": "a@example.com"}).status_code == 404


def test_sign_up_sends_confirmation_and_confirming_subscribes(
    client: AppClient, settings: Settings, engine: Engine, erhverv: ListRow
) -> None:
    answer = sign_up(client, "Ann@Example.com", name="Ann Jensen")
    assert answer.status_code == 200
    assert "Tjek din indbakke" in answer.text

    [message] = outbox_messages(settings)
    assert message["To"].addresses[0].addr_spec == "Ann@example.com"
    assert "Erhvervsnyt" in message["Subject"]
    link = confirm_link(message)
    assert link.startswith("https://nyhedsbrev.example.org/confirm/")
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert f'href="{link}"' in html  # the button
    assert "%%nl:" not in html and "%%nl:" not in text_part(message)
    assert "/issues/" not in html and "/u/" not in html  # not subscribed yet: no web version, no unsubscribe
    # Complaints about confirmations show apart in Gmail; no List-Id: it is not mail of the list.
    assert message["Feedback-ID"] == "confirm:erhverv:example-org"
    assert message["List-Id"] is None and message["List-Unsubscribe"] is None

    with engine.connect() as conn:
        person = subscriber_store.get_subscriber(conn, "ann@example.com")
    assert person is not None
    assert membership(engine, person.id, erhverv.id) == "pending"

    path = link.removeprefix("https://nyhedsbrev.example.org")
    shown = client.get(path)
    assert shown.status_code == 200
    assert "Bekræft tilmelding" in shown.text
    assert membership(engine, person.id, erhverv.id) == "pending"  # a GET changes nothing

    done = client.post(path, data={}, headers={"x-forwarded-for": "ignored"})
    assert done.status_code == 200
    assert "du er tilmeldt" in done.text
    assert membership(engine, person.id, erhverv.id) == "subscribed"
    with engine.connect() as conn:
        rows = conn.execute(
            select(consent_log).where(consent_log.c.subscriber_id == person.id).order_by(consent_log.c.id)
        ).all()
    assert [row.action for row in rows] == ["subscribe", "confirm"]
    assert rows[-1].consent_text == CONSENT
    assert rows[-1].list_id == erhverv.id
    assert rows[-1].ip  # the client's address is recorded
    assert rows[-1].at is not None

    again = client.post(path, data={})  # confirming twice is harmless
    assert again.status_code == 200


def test_same_answer_for_known_and_unknown_addresses(
    client: AppClient, settings: Settings, engine: Engine
) -> None:
    add_member(engine, "known@example.com")
    with engine.begin() as conn:
        subscriber_store.suppress(conn, "blocked@example.com", "complained")

    def main_text(address: str) -> str:
        page = sign_up(client, address)
        assert page.status_code == 200
        return page.text[page.text.index("<main>") :]

    assert main_text("new@example.com") == main_text("known@example.com") == main_text("blocked@example.com")
    # Only the new address gets mail; the suppressed one is not even created.
    assert [m["To"].addresses[0].addr_spec for m in outbox_messages(settings)] == ["new@example.com"]
    assert count(engine, subscribers, subscribers.c.email == "blocked@example.com") == 0


def test_missing_or_wrong_csrf_is_refused_and_nothing_stored(
    client: AppClient, settings: Settings, engine: Engine
) -> None:
    client.get("/subscribe/erhverv")  # has the cookie, but the form value is missing
    page = client.post("/subscribe/erhverv", data={"email": "a@example.com"})
    assert page.status_code == 403
    assert "Formularen er udløbet" in page.text
    page = client.post("/subscribe/erhverv", data={"email": "a@example.com", "csrf_token": "0" * 64})
    assert page.status_code == 403
    assert count(engine, subscribers) == 0
    assert outbox_messages(settings) == []


def test_csrf_value_from_another_cookie_is_refused(app: object, engine: Engine) -> None:
    first, second = AppClient(app), AppClient(app)
    try:
        token = csrf_token(first.get("/subscribe/erhverv").text)
        second.get("/subscribe/erhverv")
        page = second.post("/subscribe/erhverv", data={"email": "a@example.com", "csrf_token": token})
        assert page.status_code == 403
        assert count(engine, subscribers) == 0
    finally:
        first.close()
        second.close()


def test_honeypot_gets_the_same_page_but_nothing_happens(
    client: AppClient, settings: Settings, engine: Engine
) -> None:
    page = sign_up(client, "bot@example.com", website="http://spam.example")
    assert page.status_code == 200
    assert "Tjek din indbakke" in page.text
    assert count(engine, subscribers) == 0
    assert outbox_messages(settings) == []


def test_invalid_address_is_explained_and_kept_in_the_form(client: AppClient, engine: Engine) -> None:
    page = sign_up(client, "not-an-address")
    assert page.status_code == 400
    assert "ikke ud til at være en gyldig e-mailadresse" in page.text
    assert 'value="not-an-address"' in page.text
    assert count(engine, subscribers) == 0


def test_rate_limit_per_address(client: AppClient, settings: Settings) -> None:
    for _ in range(3):
        assert sign_up(client, "same@example.com").status_code == 200
    page = sign_up(client, "Same@example.com")
    assert page.status_code == 429
    assert "For mange forsøg" in page.text
    assert sign_up(client, "other@example.com").status_code == 200


def test_rate_limit_per_ip(settings: Settings, erhverv: ListRow) -> None:
    client = AppClient(create_app(settings, rate_limits=RateLimits(per_ip=2, per_address=10)))
    try:
        assert sign_up(client, "a1@example.com").status_code == 200
        assert sign_up(client, "a2@example.com").status_code == 200
        assert sign_up(client, "a3@example.com").status_code == 429
        assert len(outbox_messages(settings)) == 2
    finally:
        client.close()


def test_oversize_form_is_413(client: AppClient, engine: Engine) -> None:
    page = client.post("/subscribe/erhverv", data={"email": "a@example.com", "name": "x" * 70_000})
    assert page.status_code == 413
    assert count(engine, subscribers) == 0


def test_forged_confirmation_token(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    subscriber_id = add_member(engine, "a@example.com")
    forged = Signer("another-secret-key-0123456789").confirm_token(
        owner_of(engine, subscriber_id), erhverv.id
    )
    for response in (client.get(f"/confirm/{forged}"), client.post(f"/confirm/{forged}", data={})):
        assert response.status_code == 400
        assert "Linket virker ikke" in response.text
        assert 'href="/?lang=da#subscribe"' in response.text
    assert client.get("/confirm/garbage").status_code == 400


def test_expired_confirmation_token(
    client: AppClient, engine: Engine, erhverv: ListRow, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_up(client, "late@example.com")
    with engine.connect() as conn:
        person = subscriber_store.get_subscriber(conn, "late@example.com")
    assert person is not None
    eight_days_ago = time.time() - 8 * 86400
    with monkeypatch.context() as patch:
        patch.setattr(time, "time", lambda: eight_days_ago)
        token = Signer().confirm_token(person.link_owner, erhverv.id)
    page = client.post(f"/confirm/{token}", data={})
    assert page.status_code == 410
    assert "Linket er udløbet" in page.text
    assert 'href="/subscribe/erhverv?lang=da">Start forfra' in page.text  # back to this list's form
    assert client.get(f"/confirm/{token}").status_code == 410
    assert membership(engine, person.id, erhverv.id) == "pending"


def test_confirming_after_unsubscribing_needs_a_new_sign_up(
    client: AppClient, settings: Settings, engine: Engine, erhverv: ListRow
) -> None:
    sign_up(client, "a@example.com")
    path = confirm_link(outbox_messages(settings)[0]).removeprefix("https://nyhedsbrev.example.org")
    with engine.begin() as conn:
        person = subscriber_store.get_subscriber(conn, "a@example.com")
        assert person is not None
        subscriber_store.unsubscribe(conn, person.id, erhverv.id, source="cli")
    page = client.post(path, data={})
    assert page.status_code == 400
    assert membership(engine, person.id, erhverv.id) == "unsubscribed"


class _RefusingProvider(Provider):
    name = "refusing"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    @classmethod
    def from_settings(
        cls, settings: ProviderSettings, client: httpx.Client | None = None
    ) -> _RefusingProvider:
        return cls()

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        self.calls += 1
        raise ProviderRetryable("refusing: HTTP 503 try later")


def test_provider_failure_is_logged_and_the_answer_gives_nothing_away(
    settings: Settings, erhverv: ListRow, caplog: pytest.LogCaptureFixture
) -> None:
    provider = _RefusingProvider()
    client = AppClient(create_app(settings, provider=provider))
    try:
        with caplog.at_level("ERROR", logger="newsletter.web"):
            page = sign_up(client, "a@example.com")
    finally:
        client.close()
    assert page.status_code == 200 and "Tjek din indbakke" in page.text
    assert provider.calls == 1
    assert "confirmation email for list erhverv" in caplog.text and "HTTP 503" in caplog.text


def test_the_same_address_signed_up_several_times_at_once_is_one_person(
    settings: Settings, engine: Engine, erhverv: ListRow
) -> None:
    """A double-clicked submit: every request gets the normal answer, and one person is stored."""
    app_client = AppClient(create_app(settings, rate_limits=RateLimits(per_ip=50, per_address=10)))
    try:
        token = csrf_token(app_client.get("/subscribe/erhverv").text)
        data = {"csrf_token": token, "email": "dobbelt@example.com", "name": "Dobbelt Klik"}

        async def post_together() -> list[int]:
            answers = await asyncio.gather(
                *(app_client.client.post("/subscribe/erhverv", data=data) for _ in range(6))
            )
            return [answer.status_code for answer in answers]

        assert app_client.loop.run_until_complete(post_together()) == [200] * 6
    finally:
        app_client.close()
    assert count(engine, subscribers) == 1
    with engine.connect() as conn:
        person = conn.execute(select(subscribers)).one()
    assert membership(engine, person.id, erhverv.id) == "pending"
    assert count(engine, consent_log) == 1
