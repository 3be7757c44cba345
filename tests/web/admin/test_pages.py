"""The workspace's pages: Issues, Users, Audit, Account — what a signed-in user sees and can do."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path

import pyotp
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.store.lists import ListRow
from newsletter.workspace.audit import recent_entries
from tests.web.admin.conftest import PASSWORD, MakeUser, csrf_of, log_in, user_named
from tests.web.conftest import AppClient, add_delivery, add_member

SignIn = Callable[..., AppClient]
SAMPLE = "2019-12-20-tak-for-et-godt-2019"


def rows_of(page: str) -> list[str]:
    """The text of each body row of the page's table, whitespace folded."""
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in body.split("</tr>") if "<t" in row]


def test_the_issues_page_lists_every_issue_newest_first_with_checks_and_state(
    signed_in: SignIn, settings: Settings, engine: Engine, erhverv: ListRow
) -> None:
    broken = settings.issues_dir / "2021-01-04-i-stykker.md"
    broken.write_text("---\nsubject: [uafsluttet\n---\nTekst\n", encoding="utf-8")
    add_delivery(engine, add_member(engine, "modtager@example.com"), erhverv, issue=SAMPLE, status="done")
    client = signed_in("editor")
    page = client.get("/admin/")
    assert page.status_code == 200
    rows = rows_of(page.text)
    names = sorted((p.name for p in settings.issues_dir.glob("*.md")), reverse=True)
    assert [next(name for name in names if name in row) for row in rows] == names
    assert "Kan ikke læses" in rows[0] and "2021-01-04-i-stykker.md" in rows[0]
    sample = next(row for row in rows if SAMPLE in row)
    for expected in (
        "Tak for et godt 2019",
        "2019-12-20",
        "dansk",
        "holiday",
        "Alt i orden",
        "Sendt til erhverv",
    ):
        assert expected in sample
    others = [row for row in rows if SAMPLE not in row and "i-stykker" not in row]
    assert others and all("Kladde" in row for row in others)


def test_an_issue_still_sending_says_so(signed_in: SignIn, engine: Engine, erhverv: ListRow) -> None:
    add_delivery(engine, add_member(engine, "modtager@example.com"), erhverv, issue=SAMPLE, status="sending")
    page = signed_in("editor", language="en").get("/admin/")
    sample = next(row for row in rows_of(page.text) if SAMPLE in row)
    assert "Sending to erhverv" in sample and "Danish" in sample


def test_switching_the_language_changes_every_page(signed_in: SignIn, engine: Engine) -> None:
    client = signed_in("admin", "chef@kommune.dk")
    home = client.get("/admin/")
    assert '<html lang="da">' in home.text and "<h1>Nyhedsbreve</h1>" in home.text
    account = client.get("/admin/account")
    answer = client.post(
        "/admin/account/language", data={"csrf_token": csrf_of(account.text), "language": "en"}
    )
    assert answer.status_code == 303
    assert "The language is saved." in client.get(answer.headers["location"]).text
    home = client.get("/admin/")
    assert '<html lang="en">' in home.text and "<h1>Issues</h1>" in home.text and "Log out" in home.text
    assert user_named(engine, "chef@kommune.dk").language == "en"
    refused = client.post(
        "/admin/account/language", data={"csrf_token": csrf_of(home.text), "language": "de"}
    )
    assert refused.status_code == 400 and "Choose Danish or English" in refused.text


def test_an_admin_adds_a_user_and_sees_the_link_once(
    app: object, signed_in: SignIn, engine: Engine, client: AppClient
) -> None:
    admin = signed_in("admin", "chef@kommune.dk")
    page = admin.get("/admin/users")
    answer = admin.post(
        "/admin/users",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "Ny@Kommune.dk",
            "name": "Nina Ny",
            "role": "sender",
            "language": "en",
        },
    )
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    link = re.search(r"https://nyhedsbrev\.example\.org(/admin/set-password/[\w-]+)", answer.text)
    assert link, "the one-time link is not shown"
    assert link.group(1) not in admin.get("/admin/users").text  # shown once, never again
    new = user_named(engine, "ny@kommune.dk")
    assert (new.role, new.language, new.name) == ("sender", "en", "Nina Ny")
    with engine.connect() as conn:
        entry = recent_entries(conn, action="user.created")[0]
    assert (entry.actor, entry.ip, entry.subject) == ("chef@kommune.dk", "127.0.0.1", new.email)
    assert client.get(link.group(1)).status_code == 200

    again = admin.post(
        "/admin/users",
        data={"csrf_token": csrf_of(page.text), "email": "ny@kommune.dk", "role": "editor", "language": "da"},
    )
    assert again.status_code == 400 and "er allerede bruger" in again.text
    bad = admin.post(
        "/admin/users",
        data={
            "csrf_token": csrf_of(page.text),
            "email": "ikke en adresse",
            "role": "editor",
            "language": "da",
        },
    )
    assert bad.status_code == 400 and "E-mailadressen er ikke gyldig" in bad.text
    assert 'value="ikke en adresse"' in bad.text


def test_an_admin_disables_enables_resets_and_changes_roles(
    app: object, signed_in: SignIn, engine: Engine
) -> None:
    admin = signed_in("admin", "chef@kommune.dk")
    jens = AppClient(app)  # type: ignore[arg-type]
    signed_in("editor", "jens@kommune.dk")
    assert log_in(jens, "jens@kommune.dk").status_code == 303
    target = str(user_named(engine, "jens@kommune.dk").id)
    token = csrf_of(admin.get("/admin/users").text)

    disabled = admin.post("/admin/users/disable", data={"csrf_token": token, "user": target})
    assert disabled.status_code == 303
    assert "jens@kommune.dk er deaktiveret" in admin.get(disabled.headers["location"]).text
    assert jens.get("/admin/").status_code == 303
    assert log_in(jens, "jens@kommune.dk").status_code == 400

    assert admin.post("/admin/users/enable", data={"csrf_token": token, "user": target}).status_code == 303
    assert log_in(jens, "jens@kommune.dk").status_code == 303

    role = admin.post("/admin/users/role", data={"csrf_token": token, "user": target, "role": "sender"})
    assert "jens@kommune.dk er nu afsender" in admin.get(role.headers["location"]).text
    assert user_named(engine, "jens@kommune.dk").role == "sender"

    reset = admin.post("/admin/users/reset", data={"csrf_token": token, "user": target})
    assert reset.status_code == 200 and "/admin/set-password/" in reset.text
    assert jens.get("/admin/").status_code == 303
    assert log_in(jens, "jens@kommune.dk", PASSWORD).status_code == 400
    with engine.connect() as conn:
        actions = [(e.action, e.actor, e.ip) for e in recent_entries(conn) if e.subject == "jens@kommune.dk"]
    for action in ("user.disabled", "user.enabled", "user.role_changed", "user.password_reset"):
        assert (action, "chef@kommune.dk", "127.0.0.1") in actions
    jens.close()


def test_the_last_admin_cannot_be_disabled_from_the_page(signed_in: SignIn, engine: Engine) -> None:
    admin = signed_in("admin", "chef@kommune.dk", language="en")
    me = str(user_named(engine, "chef@kommune.dk").id)
    page = admin.get("/admin/users")
    answer = admin.post("/admin/users/disable", data={"csrf_token": csrf_of(page.text), "user": me})
    assert answer.status_code == 400
    assert "chef@kommune.dk is the only enabled admin. Add another admin first." in answer.text
    assert not user_named(engine, "chef@kommune.dk").disabled


def test_the_audit_page_filters_pages_and_exports(
    signed_in: SignIn, engine: Engine, make_user: MakeUser
) -> None:
    admin = signed_in("admin", "chef@kommune.dk")
    for number in range(20):  # three entries each: added, link made, password set
        make_user(f"redaktør{number}@kommune.dk", "editor")
    signed_in("editor", "redaktør7@kommune.dk")
    page = admin.get("/admin/audit")
    assert len(rows_of(page.text)) == 50
    older = re.search(r'href="(/admin/audit\?before=\d+)"', page.text)
    assert older, "no link to older entries"
    second = admin.get(older.group(1).replace("&amp;", "&"))
    assert rows_of(second.text) and "Nyeste poster" in second.text

    editor = user_named(engine, "redaktør7@kommune.dk")
    mine = admin.get(f"/admin/audit?user={editor.id}&action=login.succeeded")
    rows = rows_of(mine.text)
    assert len(rows) == 1 and "redaktør7@kommune.dk" in rows[0] and "login.succeeded" in rows[0]
    assert 'hx-get="/admin/audit"' in mine.text and f'<option value="{editor.id}" selected>' in mine.text

    export = admin.post("/admin/audit/export", data={"csrf_token": csrf_of(page.text), "excel": "yes"})
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert "attachment" in export.headers["content-disposition"]
    assert export.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig")), delimiter=";"))
    assert table[0][:5] == ["id", "at (UTC)", "user id", "actor", "action"]
    assert len(table) > 60
    with engine.connect() as conn:
        last = recent_entries(conn, limit=1)[0]
    assert (last.action, last.actor, last.detail["entries"]) == (
        "audit.exported",
        "chef@kommune.dk",
        len(table) - 1,
    )


def test_turning_on_two_factor_needs_a_code_from_the_app(signed_in: SignIn, engine: Engine) -> None:
    client = signed_in("editor", "jens@kommune.dk")
    page = client.get("/admin/account/totp")
    assert page.status_code == 200
    assert '<svg role="img" aria-label="QR-kode til din godkendelsesapp"' in page.text
    secret = re.search(r'name="secret" value="([A-Z2-7]+)"', page.text)
    assert secret and "otpauth://totp/" in page.text
    token = csrf_of(page.text)
    wrong = client.post(
        "/admin/account/totp", data={"csrf_token": token, "secret": secret.group(1), "code": "1"}
    )
    assert wrong.status_code == 400 and "Koden er forkert" in wrong.text
    assert not user_named(engine, "jens@kommune.dk").totp_enabled
    code = pyotp.TOTP(secret.group(1)).now()
    answer = client.post(
        "/admin/account/totp", data={"csrf_token": token, "secret": secret.group(1), "code": code}
    )
    assert answer.status_code == 303
    assert "To-faktor-login er slået til" in client.get(answer.headers["location"]).text
    assert user_named(engine, "jens@kommune.dk").totp_enabled
    # The same code again does not turn it off: a code is accepted once.
    off = client.post("/admin/account/totp/remove", data={"csrf_token": token, "code": code})
    assert off.status_code == 400 and user_named(engine, "jens@kommune.dk").totp_enabled


def test_lists_page_counts_subscribers(signed_in: SignIn, engine: Engine, erhverv: ListRow) -> None:
    add_member(engine, "a@example.com")
    add_member(engine, "b@example.com")
    rows = rows_of(signed_in("admin").get("/admin/lists").text)
    # mailable, pending, unsubscribed; then the actions: import, and the CSV download
    assert len(rows) == 1 and rows[0].startswith("erhverv Erhvervsnyt dansk 2 0 0 Importér")


def test_a_project_can_override_a_workspace_page(signed_in: SignIn, settings: Settings) -> None:
    folder = Path(settings.templates_dir) / "web" / "admin"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lists.html").write_text(
        '{% extends "builtin/admin/lists.html" %}{% block title %}Vores lister{% endblock %}',
        encoding="utf-8",
    )
    assert "<title>Vores lister" in signed_in("admin").get("/admin/lists").text
