"""Unsubscribe links, RFC 8058 one-click and the preference page."""

from __future__ import annotations

from sqlalchemy import Engine, select

from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.lists import ListRow
from newsletter.store.schema import consent_log, memberships, subscribers
from newsletter.tokens import Signer
from tests.web.conftest import AppClient, add_member, membership


def _source(engine: Engine, subscriber_id: int, list_id: int) -> str | None:
    with engine.connect() as conn:
        return conn.execute(
            select(memberships.c.unsubscribe_source).where(
                memberships.c.subscriber_id == subscriber_id, memberships.c.list_id == list_id
            )
        ).scalar_one()


def test_get_shows_list_and_button_but_changes_nothing(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "a@example.com")
    token = Signer().unsubscribe_token(person, erhverv.id, "2020-03-02-nyt-fra-erhvervsservice")
    page = client.get(f"/u/{token}")
    assert page.status_code == 200
    assert "Erhvervsnyt" in page.text
    assert f'action="/u/{token}"' in page.text
    assert "Frameld mig" in page.text
    assert membership(engine, person, erhverv.id) == "subscribed"


def test_post_from_the_page_unsubscribes_and_offers_resubscribe(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "a@example.com")
    token = Signer().unsubscribe_token(person, erhverv.id)
    page = client.post(f"/u/{token}", data={"lang": "en"})
    assert page.status_code == 200
    assert "You are unsubscribed" in page.text
    assert 'href="/subscribe/erhverv?lang=en"' in page.text
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert _source(engine, person, erhverv.id) == "link"
    with engine.connect() as conn:
        actions = conn.execute(
            select(consent_log.c.action).where(consent_log.c.subscriber_id == person)
        ).scalars()
        assert list(actions)[-1] == "unsubscribe"


def test_one_click_urlencoded_without_cookies(app: object, engine: Engine, erhverv: ListRow) -> None:
    person = add_member(engine, "a@example.com")
    token = Signer().unsubscribe_token(person, erhverv.id, "2020-03-02-nyt-fra-erhvervsservice")
    fresh = AppClient(app)  # no cookie, no CSRF token, exactly what a mailbox provider sends
    try:
        answer = fresh.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    finally:
        fresh.close()
    assert answer.status_code == 200
    assert "location" not in answer.headers
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert _source(engine, person, erhverv.id) == "one-click"


def test_one_click_multipart(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    person = add_member(engine, "a@example.com")
    token = Signer().unsubscribe_token(person, erhverv.id)
    answer = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert _source(engine, person, erhverv.id) == "one-click"
    again = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert again.status_code == 200  # twice is harmless


def test_forged_unsubscribe_token_changes_nothing(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "a@example.com")
    forged = Signer("someone-elses-secret-key-123").unsubscribe_token(person, erhverv.id)
    for answer in (
        client.get(f"/u/{forged}"),
        client.post(
            f"/u/{forged}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    ):
        assert answer.status_code == 400
        assert "Linket virker ikke" in answer.text
    # A confirmation token is not an unsubscribe token either.
    wrong_kind = Signer().confirm_token(person, erhverv.id)
    assert client.post(f"/u/{wrong_kind}", data={}).status_code == 400
    assert membership(engine, person, erhverv.id) == "subscribed"


def test_token_without_list_unsubscribes_from_everything(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    with engine.begin() as conn:
        other = list_store.create_list(conn, "kultur", "Kulturnyt", "", "da", "ok")
    person = add_member(engine, "a@example.com")
    add_member(engine, "a@example.com", "kultur")
    page = client.get(f"/u/{Signer().unsubscribe_token(person, None)}")
    assert "alle vores nyhedsbreve" in page.text
    client.post(f"/u/{Signer().unsubscribe_token(person, None)}", data={})
    assert membership(engine, person, erhverv.id) == membership(engine, person, other.id) == "unsubscribed"


def test_erased_person_gets_a_calm_answer(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    person = add_member(engine, "gone@example.com")
    with engine.begin() as conn:
        conn.execute(subscribers.delete().where(subscribers.c.id == person))
    token = Signer().unsubscribe_token(person, erhverv.id)
    assert "Vi har ingen tilmeldinger" in client.get(f"/u/{token}").text
    answer = client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200


def test_preferences_keep_one_leave_another(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        kultur = list_store.create_list(conn, "kultur", "Kulturnyt", "", "en", "ok")
    person = add_member(engine, "a@example.com")
    add_member(engine, "a@example.com", "kultur")
    token = Signer().preferences_token(person)
    page = client.get(f"/preferences/{token}")
    assert page.status_code == 200
    assert "Erhvervsnyt" in page.text and "Kulturnyt" in page.text
    assert page.text.count("checked") == 2

    saved = client.post(f"/preferences/{token}", data={"keep": [str(kultur.id)], "save": "1"})
    assert saved.status_code == 200
    assert "Dine valg er gemt" in saved.text
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert membership(engine, person, kultur.id) == "subscribed"
    assert _source(engine, person, erhverv.id) == "preferences"
    assert 'href="/subscribe/erhverv?lang=da"' in saved.text  # a way back

    client.post(f"/preferences/{token}", data={"keep": [str(kultur.id)], "leave_all": "1"})
    assert membership(engine, person, kultur.id) == "unsubscribed"


def test_forged_preferences_token(client: AppClient, engine: Engine) -> None:
    person = add_member(engine, "a@example.com")
    forged = Signer("another-secret-key-0123456789").preferences_token(person)
    assert client.get(f"/preferences/{forged}").status_code == 400
    assert client.post(f"/preferences/{forged}", data={"leave_all": "1"}).status_code == 400
    with engine.connect() as conn:
        assert [state for _, state in subscriber_store.memberships_of(conn, person)] == ["subscribed"]
