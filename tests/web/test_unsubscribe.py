"""Unsubscribe links, RFC 8058 one-click and the preference page."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import Engine, select

from newsletter.store import gdpr
from newsletter.store import lists as list_store
from newsletter.store import subscribers as subscriber_store
from newsletter.store.lists import ListRow
from newsletter.store.schema import consent_log, memberships, subscribers
from newsletter.tokens import Signer
from tests.web.conftest import AppClient, add_member, count, membership, owner_of


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
    token = Signer().unsubscribe_token(
        owner_of(engine, person), erhverv.id, "2020-03-02-nyt-fra-erhvervsservice"
    )
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
    token = Signer().unsubscribe_token(owner_of(engine, person), erhverv.id)
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
    token = Signer().unsubscribe_token(
        owner_of(engine, person), erhverv.id, "2020-03-02-nyt-fra-erhvervsservice"
    )
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


def test_one_click_without_a_content_type_is_still_one_click(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "a@example.com")
    answer = client.post(
        f"/u/{Signer().unsubscribe_token(owner_of(engine, person), erhverv.id)}",
        content=b"List-Unsubscribe=One-Click",
    )
    assert answer.status_code == 200 and "location" not in answer.headers
    assert _source(engine, person, erhverv.id) == "one-click"


def test_one_click_multipart(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    person = add_member(engine, "a@example.com")
    token = Signer().unsubscribe_token(owner_of(engine, person), erhverv.id)
    answer = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert answer.status_code == 200
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert _source(engine, person, erhverv.id) == "one-click"
    again = client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    assert again.status_code == 200  # twice is harmless
    later = client.get(f"/u/{token}")  # the link in the old email, opened again
    assert "Du modtager ikke flere udgaver af »Erhvervsnyt«" in later.text
    assert "<button" not in later.text and 'href="/subscribe/erhverv?lang=da"' in later.text


def test_forged_unsubscribe_token_changes_nothing(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "a@example.com")
    forged = Signer("someone-elses-secret-key-123").unsubscribe_token(owner_of(engine, person), erhverv.id)
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
    wrong_kind = Signer().confirm_token(owner_of(engine, person), erhverv.id)
    assert client.post(f"/u/{wrong_kind}", data={}).status_code == 400
    assert membership(engine, person, erhverv.id) == "subscribed"


def test_token_without_list_unsubscribes_from_everything(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    with engine.begin() as conn:
        other = list_store.create_list(conn, "kultur", "Kulturnyt", "", "da", "ok")
    person = add_member(engine, "a@example.com")
    add_member(engine, "a@example.com", "kultur")
    page = client.get(f"/u/{Signer().unsubscribe_token(owner_of(engine, person), None)}")
    assert "alle vores nyhedsbreve" in page.text
    client.post(f"/u/{Signer().unsubscribe_token(owner_of(engine, person), None)}", data={})
    assert membership(engine, person, erhverv.id) == membership(engine, person, other.id) == "unsubscribed"


def test_erased_person_gets_a_calm_answer(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    person = owner_of(engine, add_member(engine, "gone@example.com"))
    with engine.begin() as conn:
        conn.execute(subscribers.delete().where(subscribers.c.id == person.subscriber_id))
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
    token = Signer().preferences_token(owner_of(engine, person))
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
    forged = Signer("another-secret-key-0123456789").preferences_token(owner_of(engine, person))
    assert client.get(f"/preferences/{forged}").status_code == 400
    assert client.post(f"/preferences/{forged}", data={"leave_all": "1"}).status_code == 400
    with engine.connect() as conn:
        assert [state for _, state in subscriber_store.memberships_of(conn, person)] == ["subscribed"]


def _consent_rows(engine: Engine, subscriber_id: int) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(row)
            for row in conn.execute(
                select(
                    consent_log.c.list_id,
                    consent_log.c.action,
                    consent_log.c.method,
                    consent_log.c.source,
                    consent_log.c.consent_text,
                    consent_log.c.ip,
                )
                .where(consent_log.c.subscriber_id == subscriber_id)
                .order_by(consent_log.c.id)
            )
        ]


def _one_click(client: AppClient, token: str) -> httpx.Response:
    return client.post(
        f"/u/{token}",
        content=b"List-Unsubscribe=One-Click",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )


def test_one_click_records_exactly_what_the_store_records(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    by_web = add_member(engine, "web@example.com")
    by_store = add_member(engine, "store@example.com")
    assert (
        _one_click(client, Signer().unsubscribe_token(owner_of(engine, by_web), erhverv.id)).status_code
        == 200
    )
    with engine.begin() as conn:
        subscriber_store.unsubscribe(conn, by_store, erhverv.id, source="one-click")
    assert _consent_rows(engine, by_web) == _consent_rows(engine, by_store)
    assert _consent_rows(engine, by_web)[-1][1:4] == ("unsubscribe", "form", "one-click")
    with engine.connect() as conn:
        web_row, store_row = (
            conn.execute(
                select(
                    memberships.c.state, memberships.c.unsubscribe_source, memberships.c.unsubscribed_at
                ).where(memberships.c.subscriber_id == who)
            ).one()
            for who in (by_web, by_store)
        )
    assert web_row.state == store_row.state == "unsubscribed"
    assert web_row.unsubscribe_source == store_row.unsubscribe_source == "one-click"
    assert web_row.unsubscribed_at is not None
    # A second one-click is answered the same and writes nothing more.
    assert (
        _one_click(client, Signer().unsubscribe_token(owner_of(engine, by_web), erhverv.id)).status_code
        == 200
    )
    assert len(_consent_rows(engine, by_web)) == len(_consent_rows(engine, by_store))


def test_link_to_a_deleted_list_says_so_and_changes_nothing(
    app: object, engine: Engine, erhverv: ListRow
) -> None:
    with engine.begin() as conn:
        list_store.create_list(conn, "kultur", "Kulturnyt", "", "da", "ok")
    person = add_member(engine, "a@example.com")
    add_member(engine, "a@example.com", "kultur")
    with engine.connect() as conn:
        kultur_id = list_store.get_list(conn, "kultur").id
    token = Signer().unsubscribe_token(
        owner_of(engine, person), kultur_id, "2020-03-02-nyt-fra-erhvervsservice"
    )
    with engine.begin() as conn:
        list_store.delete_list(conn, "kultur", force=True)
    before = _consent_rows(engine, person)

    fresh = AppClient(app)  # a mailbox provider: no cookie
    try:
        for answer in (fresh.head(f"/u/{token}"), fresh.get(f"/u/{token}")):
            assert answer.status_code == 200
        page = fresh.get(f"/u/{token}")
        assert "findes ikke længere" in page.text
        assert "alle vores nyhedsbreve" not in page.text and "<button" not in page.text
        one_click = _one_click(fresh, token)
        assert one_click.status_code == 200 and "location" not in one_click.headers
        by_hand = fresh.post(f"/u/{token}", data={"lang": "en"})
        assert by_hand.status_code == 200
        assert "no longer exists" in by_hand.text and "all our newsletters" not in by_hand.text
    finally:
        fresh.close()
    assert membership(engine, person, erhverv.id) == "subscribed"  # the other list is untouched
    assert _consent_rows(engine, person) == before


def test_one_click_for_an_erased_person_writes_nothing(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = owner_of(engine, add_member(engine, "gone@example.com"))
    with engine.begin() as conn:
        gdpr.erase(conn, "gone@example.com")
    rows_before = count(engine, consent_log)
    for token in (Signer().unsubscribe_token(person, erhverv.id), Signer().unsubscribe_token(person, None)):
        answer = _one_click(client, token)
        assert answer.status_code == 200 and "location" not in answer.headers
    assert count(engine, consent_log) == rows_before
    assert count(engine, memberships) == 0


def test_preferences_ignore_list_ids_that_are_not_numbers(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "a@example.com")
    token = Signer().preferences_token(owner_of(engine, person))
    saved = client.post(f"/preferences/{token}", data={"keep": ["9" * 5000, "²", str(erhverv.id)]})
    assert saved.status_code == 200
    assert "Dine valg er gemt" in saved.text
    assert membership(engine, person, erhverv.id) == "subscribed"


def test_many_one_clicks_at_once_all_land(app: object, engine: Engine, erhverv: ListRow) -> None:
    people = [add_member(engine, f"p{i}@example.com") for i in range(25)]

    async def fire() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(
            transport=transport, base_url="https://nyhedsbrev.example.org"
        ) as mailbox:
            return await asyncio.gather(
                *(
                    mailbox.post(
                        f"/u/{Signer().unsubscribe_token(owner_of(engine, person), erhverv.id)}",
                        content=b"List-Unsubscribe=One-Click",
                        headers={"content-type": "application/x-www-form-urlencoded"},
                    )
                    for person in people
                )
            )

    answers = asyncio.run(fire())
    assert [answer.status_code for answer in answers] == [200] * len(people)
    assert [membership(engine, person, erhverv.id) for person in people] == ["unsubscribed"] * len(people)
    assert count(engine, consent_log, consent_log.c.action == "unsubscribe") == len(people)
