"""A link acts on the person it was mailed to, or on nobody: never on whoever holds their id later.

The attack (issue 9): sign up X, erase X, sign up Y. On SQLite Y got X's id, so
X's old confirmation link confirmed Y, X's one-click link unsubscribed Y and
X's preference link showed Y's lists. Ids are no longer reused, and every link
carries the person's link key, so even a recycled id cannot pass a link on.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
import time

import pytest
from click.testing import CliRunner
from itsdangerous import URLSafeSerializer, URLSafeTimedSerializer
from sqlalchemy import Engine, func, select

from newsletter.cli import main
from newsletter.config import Settings
from newsletter.send import ledger, plan
from newsletter.store import gdpr
from newsletter.store import subscribers as subscriber_store
from newsletter.store.addresses import email_hash
from newsletter.store.lists import ListRow, create_list, utcnow
from newsletter.store.schema import consent_log, deliveries, events, lists, memberships, sends, subscribers
from newsletter.tokens import CONFIRM_SALT, PREFERENCES_SALT, UNSUBSCRIBE_SALT, LinkOwner, Signer
from tests.conftest import TEST_SECRET_KEY
from tests.web.conftest import (
    AppClient,
    add_member,
    confirm_link,
    count,
    membership,
    outbox_messages,
    owner_of,
    sign_up,
    text_part,
)

ISSUE = "2020-03-02-nyt-fra-erhvervsservice"
ONE_CLICK = {
    "content": b"List-Unsubscribe=One-Click",
    "headers": {"content-type": "application/x-www-form-urlencoded"},
}

ID_TABLES = (lists, subscribers, consent_log, sends, deliveries, events)


def _path(url: str) -> str:
    return re.sub(r"^https://[^/]+", "", url)


def _issue_links(settings: Settings) -> tuple[str, str]:
    """The one-click (List-Unsubscribe) and preference links of the one issue in the outbox."""
    [eml] = sorted((settings.provider.options.outbox_dir / ISSUE).glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    one_click = re.search(r"<(https://[^>]+/u/[^>]+)>", str(message["List-Unsubscribe"]))
    preferences = re.search(r"https://\S+/preferences/[\w.\-]+", text_part(message))  # type: ignore[arg-type]
    assert one_click and preferences
    return _path(one_click.group(1)), _path(preferences.group(0))


def _state_of(engine: Engine, address: str) -> tuple[int, list[tuple[int, str]], int]:
    """Id, memberships and consent rows of ``address``: everything a stranger's link could change."""
    with engine.connect() as conn:
        person = subscriber_store.get_subscriber(conn, address)
        assert person is not None
        rows = conn.execute(
            select(memberships.c.list_id, memberships.c.state).where(memberships.c.subscriber_id == person.id)
        ).all()
        logged = conn.execute(select(consent_log.c.id).where(consent_log.c.subscriber_id == person.id)).all()
        return person.id, [tuple(row) for row in rows], len(logged)


def test_an_erased_persons_links_never_act_on_the_next_sign_up(
    client: AppClient, settings: Settings, engine: Engine, erhverv: ListRow
) -> None:
    # X signs up through the form, confirms with the mailed link and receives an issue.
    sign_up(client, "x@example.com")
    x_confirm = _path(confirm_link(outbox_messages(settings)[-1]))
    assert client.post(x_confirm, data={}).status_code == 200
    sent = CliRunner().invoke(
        main,
        ["--config", str(settings.path), "send", ISSUE, "--list", "erhverv", "--yes"],
        catch_exceptions=False,
    )
    assert sent.exit_code == 0, sent.output
    x_one_click, x_preferences = _issue_links(settings)
    with engine.connect() as conn:
        x = subscriber_store.get_subscriber(conn, "x@example.com")
    assert x is not None

    erased = CliRunner().invoke(
        main, ["--config", str(settings.path), "subscribers", "erase", "x@example.com", "--yes"]
    )
    assert erased.exit_code == 0, erased.output

    # Y signs up and has not confirmed yet.
    sign_up(client, "y@example.com")
    y_before = _state_of(engine, "y@example.com")
    assert y_before[0] != x.id  # ids are never handed out twice
    assert y_before[1] == [(erhverv.id, "pending")]

    confirm = client.post(x_confirm, data={})
    assert confirm.status_code == 400 and "Linket virker ikke" in confirm.text
    preferences = client.get(x_preferences)
    assert "Erhvervsnyt" not in preferences.text and 'name="keep"' not in preferences.text
    assert client.post(x_preferences, data={"leave_all": "1"}).status_code == 200
    one_click = client.post(x_one_click, **ONE_CLICK)  # type: ignore[arg-type]
    assert one_click.status_code == 200  # RFC 8058: a mailbox provider's request is answered 200
    page = client.get(x_one_click)
    assert "Vi har ingen tilmeldinger" in page.text and "Erhvervsnyt" not in page.text

    assert _state_of(engine, "y@example.com") == y_before


def _collide(engine: Engine, erhverv: ListRow) -> tuple[LinkOwner, int]:
    """X's links, then X erased and Y created under X's very id (as a database from before 0004 could)."""
    x = owner_of(engine, add_member(engine, "x@example.com"))
    with engine.begin() as conn:
        gdpr.erase(conn, "x@example.com")
        row = subscriber_store.add_subscriber(conn, "y@example.com", "erhverv", state="pending")
        # Move Y onto X's old id: the collision the link key must survive.
        conn.execute(memberships.delete().where(memberships.c.subscriber_id == row.id))
        conn.execute(consent_log.delete().where(consent_log.c.subscriber_id == row.id))
        conn.execute(subscribers.update().where(subscribers.c.id == row.id).values(id=x.subscriber_id))
        conn.execute(
            memberships.insert().values(
                subscriber_id=x.subscriber_id,
                list_id=erhverv.id,
                state="pending",
                created_at=row.created_at,
                updated_at=row.created_at,
            )
        )
    return x, x.subscriber_id


def test_links_are_bound_to_the_person_even_when_an_id_is_reused(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    x, shared_id = _collide(engine, erhverv)
    signer = Signer()
    confirm = client.post(f"/confirm/{signer.confirm_token(x, erhverv.id)}", data={})
    assert confirm.status_code == 400
    assert client.post(f"/u/{signer.unsubscribe_token(x, erhverv.id, ISSUE)}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert client.post(f"/u/{signer.unsubscribe_token(x, None)}", data={}).status_code == 200
    preferences = client.get(f"/preferences/{signer.preferences_token(x)}")
    assert "Erhvervsnyt" not in preferences.text
    client.post(f"/preferences/{signer.preferences_token(x)}", data={"leave_all": "1"})
    assert membership(engine, shared_id, erhverv.id) == "pending"
    assert count(engine, consent_log, consent_log.c.subscriber_id == shared_id) == 0
    # Y's own links work.
    y = owner_of(engine, shared_id)
    assert client.post(f"/confirm/{signer.confirm_token(y, erhverv.id)}", data={}).status_code == 200
    assert membership(engine, shared_id, erhverv.id) == "subscribed"


def _v1(salt: str, payload: object, *, timed: bool = False) -> str:
    kwargs = {"salt": salt, "signer_kwargs": {"digest_method": hashlib.sha256}}
    if timed:
        return URLSafeTimedSerializer(TEST_SECRET_KEY, **kwargs).dumps(payload)  # type: ignore[arg-type]
    return URLSafeSerializer(TEST_SECRET_KEY, **kwargs).dumps(payload)  # type: ignore[arg-type]


def test_version_1_links_work_only_for_people_from_before_link_keys(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    old = add_member(engine, "old@example.com")
    new = add_member(engine, "new@example.com")
    with engine.begin() as conn:  # what revision 0004 sets for everyone who existed before it
        conn.execute(subscribers.update().where(subscribers.c.id == old).values(v1_links=True))
    for person in (old, new):
        token = _v1("newsletter.unsubscribe.v1", [person, erhverv.id])
        assert client.post(f"/u/{token}", **ONE_CLICK).status_code == 200  # type: ignore[arg-type]
    assert membership(engine, old, erhverv.id) == "unsubscribed"
    assert membership(engine, new, erhverv.id) == "subscribed"  # created since: v1 links are not theirs
    page = client.get(f"/preferences/{_v1('newsletter.preferences.v1', old)}")
    assert "Erhvervsnyt" in page.text
    assert "Erhvervsnyt" not in client.get(f"/preferences/{_v1('newsletter.preferences.v1', new)}").text


ABSURD_IDS: list[object] = [10**30, -1, 2**31, "5", 5.0, True, None, [1], {"a": 1}]


def _absurd_paths(bad: object, person: LinkOwner, list_id: int) -> list[str]:
    key = person.link_key
    paths = [
        f"/u/{_v1(UNSUBSCRIBE_SALT, [bad, key, list_id])}",
        f"/u/{_v1('newsletter.unsubscribe.v1', [bad, list_id])}",
        f"/preferences/{_v1(PREFERENCES_SALT, [bad, key])}",
        f"/preferences/{_v1('newsletter.preferences.v1', bad)}",
        f"/confirm/{_v1(CONFIRM_SALT, [bad, key, list_id], timed=True)}",
        f"/confirm/{_v1('newsletter.confirm.v1', [bad, list_id], timed=True)}",
        f"/u/{_v1(UNSUBSCRIBE_SALT, [person.subscriber_id, 12345, list_id])}",  # a key that is no text
    ]
    if bad is not None:  # a link without a list is a valid "every list" link
        paths += [
            f"/u/{_v1(UNSUBSCRIBE_SALT, [person.subscriber_id, key, bad])}",
            f"/confirm/{_v1(CONFIRM_SALT, [person.subscriber_id, key, bad], timed=True)}",
        ]
    return paths


@pytest.mark.parametrize("bad", ABSURD_IDS, ids=repr)
def test_a_signed_token_with_an_absurd_id_is_a_bad_link_not_a_crash(
    app: object, engine: Engine, erhverv: ListRow, bad: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = owner_of(engine, add_member(engine, "a@example.com"))
    paths = _absurd_paths(bad, person, erhverv.id)
    with monkeypatch.context() as patch:  # the same, expired: the "expired" page reads the list id too
        eight_days_ago = time.time() - 8 * 86400
        patch.setattr(time, "time", lambda: eight_days_ago)
        expired = f"/confirm/{_v1(CONFIRM_SALT, [person.subscriber_id, person.link_key, bad], timed=True)}"
    client = AppClient(app, raise_app_exceptions=False)
    try:
        for path in paths:
            for method in ("GET", "POST"):
                answer = client.request(method, path, **ONE_CLICK)  # type: ignore[arg-type]
                assert answer.status_code == 400, (method, path, answer.status_code)
                assert "Linket virker ikke" in answer.text
        if bad is not None:
            answer = client.post(expired, data={})
            assert answer.status_code == 410 and "/subscribe/erhverv" not in answer.text
    finally:
        client.close()
    assert membership(engine, person.subscriber_id, erhverv.id) == "subscribed"


def _one_of_each(engine: Engine, address: str, issue: str, list_name: str) -> dict[str, int]:
    """A list, a subscriber with a consent entry, a send with its ledger row and an event: each table's newest id."""
    with engine.begin() as conn:
        the_list = create_list(conn, list_name, "Liste", "", "da", "Ja tak.")
    add_member(engine, address, list_name=the_list.name)
    with engine.begin() as conn:
        plan.plan(conn, issue=issue, list_id=the_list.id, subject="Nyt", provider="outbox")
        conn.execute(
            events.insert().values(
                provider="outbox", provider_event_id=issue, type="delivered", received_at=utcnow(), raw={}
            )
        )
        return {table.name: conn.execute(select(func.max(table.c.id))).scalar_one() for table in ID_TABLES}


def test_the_newest_id_is_never_given_again_after_its_row_is_deleted(engine: Engine) -> None:
    """Without AUTOINCREMENT, SQLite hands the newest row's id out again once that row is gone."""
    first = _one_of_each(engine, "x@example.com", ISSUE, "foerste")
    with engine.begin() as conn:
        for table in ID_TABLES[::-1]:  # dependants first
            conn.execute(table.delete().where(table.c.id == first[table.name]))
    second = _one_of_each(engine, "y@example.com", ISSUE + "-igen", "anden")
    reused = [name for name in first if second[name] <= first[name]]
    assert reused == [], f"ids given again: {reused} ({first} → {second})"


def test_a_ledger_row_never_resolves_to_someone_else(engine: Engine, erhverv: ListRow) -> None:
    x = add_member(engine, "x@example.com")
    y = add_member(engine, "y@example.com")
    with engine.begin() as conn:
        plan.plan(conn, issue=ISSUE, list_id=erhverv.id, subject="Nyt", provider="outbox")
        # X's queued row pointing at Y (a recycled id in a database from before 0004): the
        # address hash on the row is still X's, so the row must not turn into a message to Y.
        conn.execute(
            deliveries.update()
            .where(deliveries.c.subscriber_id == x)
            .values(subscriber_id=y, email_hash=email_hash("x@example.com"))
        )
        conn.execute(deliveries.delete().where(deliveries.c.email_hash == email_hash("y@example.com")))
        send = plan.get_send(conn, ISSUE, erhverv.id)
        assert send is not None
        claimed = ledger.claim(conn, send, 10)
    assert claimed is not None
    assert [row.email for row in claimed.rows] == [] and claimed.skipped == 1
