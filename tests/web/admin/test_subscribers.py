"""Lists and subscribers in the workspace: search, one subscriber, add, unsubscribe, export, erase.

Every test runs on SQLite and PostgreSQL (the ``engine`` fixture), over real
HTTP through the app, signed in as an admin unless it says otherwise.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
from collections.abc import Callable

import pytest
from sqlalchemy import Engine, insert

from newsletter.store import subscribers as subscriber_store
from newsletter.store.addresses import email_hash
from newsletter.store.gdpr import export_data
from newsletter.store.lists import ListRow, create_list, utcnow
from newsletter.store.schema import events
from newsletter.workspace.audit import AuditEntry, recent_entries
from tests.web.admin.conftest import csrf_of
from tests.web.conftest import AppClient, add_delivery, add_member, membership

SignIn = Callable[..., AppClient]
SEARCH = "/admin/subscribers"


def results(page: str) -> list[str]:
    """The addresses in the search results, in order."""
    section = page.split('id="subscriber-results"', 1)[1]
    return [
        html.unescape(found) for found in re.findall(r'<a href="/admin/subscribers/\d+">([^<]+)</a>', section)
    ]


def visible(page: str) -> str:
    return html.unescape(" ".join(re.sub(r"<[^>]+>", " ", page).split()))


def audit(engine: Engine, action: str) -> list[AuditEntry]:
    with engine.connect() as conn:
        return recent_entries(conn, action=action)


def add_people(engine: Engine, people: list[tuple[str, str | None]], list_name: str = "erhverv") -> list[int]:
    with engine.begin() as conn:
        return [
            subscriber_store.add_subscriber(
                conn, address, list_name, name=name, method="manual", consent_text="Tilmeldt på messen"
            ).id
            for address, name in people
        ]


def test_the_search_finds_any_part_of_an_address_or_a_name_in_any_case(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    add_people(
        engine,
        [
            ("jens.hansen@firma.dk", "Jens Hansen"),
            ("Bo@Østergaard.dk", "Bo Østergaard"),
            ("lise@kommune.dk", "Lise ØSTERBY"),
            ("anne_100%@example.com", None),
            ("per@example.com", "Per Nielsen"),
        ],
    )
    with engine.begin() as conn:
        create_list(conn, "kultur", "Kulturnyt")
    add_people(engine, [("kim@example.com", "Kim Hansen")], "kultur")
    client = signed_in("admin")
    assert results(client.get(SEARCH, params={"q": "HANSEN"}).text) == [
        "jens.hansen@firma.dk",
        "kim@example.com",
    ]
    assert results(client.get(SEARCH, params={"q": "@FIRMA.dk"}).text) == ["jens.hansen@firma.dk"]
    # Danish letters ignore case too (SQLite's LIKE does not do that by itself).
    assert results(client.get(SEARCH, params={"q": "øster"}).text) == ["Bo@østergaard.dk", "lise@kommune.dk"]
    # % and _ are letters to search for, not wildcards.
    assert results(client.get(SEARCH, params={"q": "_100%"}).text) == ["anne_100%@example.com"]
    narrowed = client.get(SEARCH, params={"q": "hansen", "list": "kultur"})
    assert results(narrowed.text) == ["kim@example.com"]
    assert "kultur: tilmeldt" in visible(narrowed.text)
    everyone = client.get(SEARCH)
    assert len(results(everyone.text)) == 6 and "6 fundet." in visible(everyone.text)
    none = client.get(SEARCH, params={"q": "ingen-sådan"})
    assert results(none.text) == [] and "Ingen abonnenter passer på søgningen." in none.text


def test_the_search_pages_fifty_at_a_time_in_address_order(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    add_people(engine, [(f"person{number:03}@firma.dk", f"Person {number}") for number in range(120)])
    client = signed_in("admin", language="en")
    first = client.get(SEARCH, params={"q": "firma", "list": "erhverv"})
    assert results(first.text)[:2] == ["person000@firma.dk", "person001@firma.dk"]
    assert len(results(first.text)) == 50 and "120 found. Page 1 of 3." in visible(first.text)
    following = re.search(r'<a href="([^"]+)" rel="next">Next page</a>', first.text)
    assert following
    last = client.get(html.unescape(following.group(1)).replace("page=2", "page=3"))
    assert results(last.text) == [f"person{number:03}@firma.dk" for number in range(100, 120)]
    assert 'rel="next"' not in last.text and 'rel="prev"' in last.text
    beyond = client.get(SEARCH, params={"q": "firma", "page": "99"})
    assert "Page 3 of 3" in beyond.text  # a page past the end shows the last one


@pytest.mark.parametrize("role", ["editor", "sender"])
def test_editors_and_senders_can_neither_see_nor_change_subscribers(
    signed_in: SignIn, engine: Engine, erhverv: ListRow, role: str
) -> None:
    person = add_member(engine, "jens@firma.dk", name="Jens")
    client = signed_in(role)
    token = csrf_of(client.get("/admin/").text)
    for path in (SEARCH, f"{SEARCH}/{person}", f"{SEARCH}/new", f"{SEARCH}/{person}/erase", "/admin/lists"):
        answer = client.get(path)
        assert answer.status_code == 403 and "Ingen adgang" in answer.text, path
        assert "jens@firma.dk" not in answer.text
    for path, data in (
        (f"{SEARCH}/{person}/unsubscribe", {"list": "all"}),
        (f"{SEARCH}/{person}/erase", {"confirm": "jens@firma.dk"}),
        (f"{SEARCH}/{person}/export-data", {}),
        (f"{SEARCH}/new", {"email": "ny@firma.dk", "list": "erhverv"}),
        ("/admin/lists/erhverv/export", {}),
    ):
        answer = client.post(path, data={"csrf_token": token, **data})
        assert answer.status_code == 403 and "jens@firma.dk" not in answer.text, path
    assert membership(engine, person, erhverv.id) == "subscribed"
    with engine.connect() as conn:
        assert subscriber_store.get_subscriber(conn, "ny@firma.dk") is None
    assert audit(engine, "subscribers.exported") == [] and audit(engine, "subscriber.data_exported") == []


def test_adding_with_a_bad_address_shows_it_at_the_field_and_writes_nothing(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    client = signed_in("admin")
    form = client.get(f"{SEARCH}/new?list=erhverv")
    assert '<option value="erhverv" selected>' in form.text
    typed = {
        "csrf_token": csrf_of(form.text),
        "name": "Jens Hansen",
        "list": "erhverv",
        "note": "Ringede 3. maj",
    }
    refused = client.post(f"{SEARCH}/new", data={**typed, "email": "jens@firma"})
    assert refused.status_code == 400
    # The refusal is the workspace's Danish sentence, at the address field, which points at it.
    message = re.search(
        r'<p class="error" role="alert" id="form-error">([^<]+)</p>\s*<input type="email"', refused.text
    )
    assert message and "E-mailadressen er ikke gyldig" in html.unescape(message.group(1))
    assert 'aria-invalid="true" aria-describedby="form-error"' in refused.text
    assert "not a valid email address" not in refused.text  # never the library's English sentence
    assert 'value="Jens Hansen"' in refused.text and "Ringede 3. maj" in refused.text  # nothing retyped
    no_list = client.post(f"{SEARCH}/new", data={**typed, "email": "jens@firma.dk", "list": "ingen"})
    assert no_list.status_code == 400 and "Vælg en liste." in no_list.text
    with engine.connect() as conn:
        assert subscriber_store.get_subscriber(conn, "jens@firma.dk") is None
    assert audit(engine, "subscriber.added") == []

    added = client.post(f"{SEARCH}/new", data={**typed, "email": " Jens@Firma.DK "})
    assert added.status_code == 303
    page = client.get(added.headers["location"])
    assert "Tilmeldt erhverv." in page.text and '<h1 class="address">Jens@firma.dk</h1>' in page.text
    consent = visible(page.text.split('id="consent-heading"', 1)[1].split("</table>", 1)[0])
    assert "erhverv tilmeldt manuelt workspace Ringede 3. maj" in consent
    entry = audit(engine, "subscriber.added")[0]
    assert entry.subject == page.url.path.replace("/admin/subscribers/", "subscriber:")
    assert "jens" not in json.dumps(entry.detail).lower() and entry.actor == "admin@kommune.dk"


def test_someone_who_unsubscribed_is_added_again_only_with_renewed_consent(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "jens@firma.dk")
    with engine.begin() as conn:
        subscriber_store.unsubscribe(conn, person, None, source="link")
    client = signed_in("admin", language="en")
    token = csrf_of(client.get(f"{SEARCH}/new").text)
    typed = {"csrf_token": token, "email": "jens@firma.dk", "list": "erhverv"}
    refused = client.post(f"{SEARCH}/new", data=typed)
    assert refused.status_code == 400
    assert (
        "cannot be subscribed without renewed consent: the person unsubscribed from the list"
        in html.unescape(refused.text)
    )
    no_note = client.post(f"{SEARCH}/new", data={**typed, "resubscribe": "yes"})
    assert (
        no_note.status_code == 400
        and "Write when and how the person gave their consent again" in no_note.text
    )
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    again = client.post(
        f"{SEARCH}/new", data={**typed, "resubscribe": "yes", "note": "Mail 4. maj: vil gerne igen"}
    )
    assert again.status_code == 303 and membership(engine, person, erhverv.id) == "subscribed"
    assert audit(engine, "subscriber.added")[0].detail == {
        "list": "erhverv",
        "outcome": "updated",
        "resubscribe": True,
    }


def test_unsubscribing_changes_the_state_and_is_audited(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "jens@firma.dk", name="Jens")
    with engine.begin() as conn:
        kultur = create_list(conn, "kultur", "Kulturnyt")
    add_member(engine, "jens@firma.dk", "kultur")
    client = signed_in("admin")
    page = client.get(f"{SEARCH}/{person}")
    assert "Afmeld fra alle lister" in page.text
    answer = client.post(
        f"{SEARCH}/{person}/unsubscribe", data={"csrf_token": csrf_of(page.text), "list": str(erhverv.id)}
    )
    assert answer.status_code == 303
    assert "Afmeldt fra erhverv." in client.get(answer.headers["location"]).text
    assert membership(engine, person, erhverv.id) == "unsubscribed"
    assert membership(engine, person, kultur.id) == "subscribed"
    entry = audit(engine, "subscriber.unsubscribed")[0]
    assert (entry.subject, entry.detail, entry.actor) == (
        f"subscriber:{person}",
        {"list": "erhverv"},
        "admin@kommune.dk",
    )
    # Twice is harmless and is no change to audit.
    again = client.post(
        f"{SEARCH}/{person}/unsubscribe", data={"csrf_token": csrf_of(page.text), "list": str(erhverv.id)}
    )
    assert "intet er ændret" in client.get(again.headers["location"]).text
    everything = client.post(
        f"{SEARCH}/{person}/unsubscribe", data={"csrf_token": csrf_of(page.text), "list": "all"}
    )
    assert "Afmeldt fra alle lister." in client.get(everything.headers["location"]).text
    assert membership(engine, person, kultur.id) == "unsubscribed"
    assert len(audit(engine, "subscriber.unsubscribed")) == 2
    consent = visible(client.get(f"{SEARCH}/{person}").text.split('id="consent-heading"', 1)[1])
    assert consent.count("afmeldt manuelt workspace") == 2


def test_a_subscribers_page_shows_their_lists_consent_log_deliveries_and_events(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "jens@firma.dk", name="Jens Hansen")
    delivery = add_delivery(engine, person, erhverv, issue="2020-03-02-nyt-fra-erhvervsservice")
    with engine.begin() as conn:
        conn.execute(
            insert(events),
            [
                {
                    "provider": "postmark",
                    "provider_event_id": f"pm-{number}",
                    "type": kind,
                    "hard": hard,
                    "delivery_id": delivery,
                    "subscriber_id": person,
                    "received_at": utcnow(),
                    "detail": detail,
                    "raw": {},
                }
                for number, (kind, hard, detail) in enumerate(
                    [("delivered", None, ""), ("bounced", True, "550 mailbox unavailable")]
                )
            ],
        )
        subscriber_store.mark_bounced(conn, person, "550 mailbox unavailable")
    client = signed_in("admin")
    page = client.get(f"{SEARCH}/{person}")
    text = visible(page.text)
    assert "Jens Hansen" in text and "blokeret: adressen afviser post" in text
    assert "erhverv Erhvervsnyt tilmeldt" in text
    assert "erhverv tilmeldt manuelt test" in text  # the consent log: list, what, how, source, note
    assert "2020-03-02-nyt-fra-erhvervsservice Sendt" in text
    sent_events = text.split("Hændelser fra udbyderen", 1)[1]
    assert sent_events.index("afvist (permanent)") < sent_events.index("leveret")
    assert "550 mailbox unavailable" in sent_events


def test_export_data_downloads_what_export_data_gives_and_is_audited(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "jens@firma.dk", name="Jens Hansen")
    client = signed_in("admin")
    token = csrf_of(client.get(f"{SEARCH}/{person}").text)
    answer = client.post(f"{SEARCH}/{person}/export-data", data={"csrf_token": token})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/json")
    assert (
        "attachment" in answer.headers["content-disposition"]
        and "jens" not in answer.headers["content-disposition"]
    )
    with engine.connect() as conn:
        assert answer.json() == export_data(conn, "jens@firma.dk")
    assert (
        answer.json()["profile"]["name"] == "Jens Hansen"
        and answer.json()["consent_log"][0]["list"] == "erhverv"
    )
    assert audit(engine, "subscriber.data_exported")[0].subject == f"subscriber:{person}"


def test_erasing_needs_the_typed_address_and_leaves_no_personal_data(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "Jens.Hansen@firma.dk", name="Jens Hansen")
    add_member(engine, "anne@firma.dk", name="Anne Hansen")
    client = signed_in("admin")
    confirm_page = client.get(f"{SEARCH}/{person}/erase")
    assert confirm_page.status_code == 200 and "Slet Jens.Hansen@firma.dk" in confirm_page.text
    token = csrf_of(confirm_page.text)
    for typed in ("", "anne@firma.dk", "jens.hansen@firma"):
        refused = client.post(f"{SEARCH}/{person}/erase", data={"csrf_token": token, "confirm": typed})
        assert refused.status_code == 400 and "Adressen passer ikke" in refused.text, typed
    with engine.connect() as conn:
        assert subscriber_store.get_subscriber(conn, "jens.hansen@firma.dk") is not None
    assert audit(engine, "subscriber.erased") == []

    erased = client.post(
        f"{SEARCH}/{person}/erase", data={"csrf_token": token, "confirm": " jens.hansen@FIRMA.dk "}
    )
    assert erased.status_code == 303 and erased.headers["location"] == f"{SEARCH}?notice=erased"
    after = client.get(erased.headers["location"])
    assert "Personen er slettet" in after.text and results(after.text) == ["anne@firma.dk"]
    assert results(client.get(SEARCH, params={"q": "hansen"}).text) == ["anne@firma.dk"]
    assert client.get(f"{SEARCH}/{person}").status_code == 404
    with engine.connect() as conn:
        held = export_data(conn, "jens.hansen@firma.dk")  # only the hashed block is left
    assert (held["profile"], held["memberships"], held["consent_log"], held["events"]) == (None, [], [], [])
    assert held["suppression"]["reason"] == "erased"
    entry = audit(engine, "subscriber.erased")[0]
    assert entry.subject == f"subscriber:{person}" and entry.detail["memberships"] == 1
    with engine.connect() as conn:
        logged = json.dumps(
            [entry.__dict__ for entry in recent_entries(conn, limit=1000)], default=str
        ).lower()
    assert "jens" not in logged and email_hash("jens.hansen@firma.dk") not in logged


def test_a_lists_csv_export_has_its_members_and_neutralises_formulas(
    signed_in: SignIn, engine: Engine, erhverv: ListRow
) -> None:
    add_people(engine, [("jens@firma.dk", "=cmd|' /C calc'!A0"), ("søren@firma.dk", "Søren Ærø")])
    client = signed_in("admin")
    page = client.get("/admin/lists")
    row = visible(page.text.split("<tbody>", 1)[1].split("</tr>", 1)[0])
    assert row.startswith("erhverv Erhvervsnyt dansk 2 0 0")
    assert 'href="/admin/subscribers?list=erhverv"' in page.text
    answer = client.post("/admin/lists/erhverv/export", data={"csrf_token": csrf_of(page.text)})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert 'filename="erhverv-' in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8"))))
    assert rows[0] == ["email", "name", "language", "state", "subscribed"]
    assert [r[:4] for r in rows[1:]] == [
        ["jens@firma.dk", "'=cmd|' /C calc'!A0", "da", "subscribed"],
        ["søren@firma.dk", "Søren Ærø", "da", "subscribed"],
    ]
    excel = client.post(
        "/admin/lists/erhverv/export", data={"csrf_token": csrf_of(page.text), "excel": "yes"}
    )
    assert excel.content.startswith(b"\xef\xbb\xbf") and excel.content.decode("utf-8-sig").startswith(
        "email;name;"
    )
    entries = audit(engine, "subscribers.exported")
    assert [(e.subject, e.detail) for e in entries] == [
        ("erhverv", {"rows": 2, "excel": True}),
        ("erhverv", {"rows": 2, "excel": False}),
    ]
    missing = client.post("/admin/lists/ingen/export", data={"csrf_token": csrf_of(page.text)})
    assert missing.status_code == 404


def test_unknown_subscribers_are_not_found(signed_in: SignIn, erhverv: ListRow) -> None:
    client = signed_in("admin")
    token = csrf_of(client.get(SEARCH).text)
    for path in (f"{SEARCH}/12345", f"{SEARCH}/abc", f"{SEARCH}/12345/erase"):
        assert client.get(path).status_code == 404, path
    for path in ("unsubscribe", "erase", "export-data"):
        assert (
            client.post(f"{SEARCH}/12345/{path}", data={"csrf_token": token, "list": "all"}).status_code
            == 404
        )
