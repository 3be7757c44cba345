"""Forms take text fields only, and a name cannot carry control characters into a mail header."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from newsletter.store.lists import ListRow
from newsletter.store.schema import subscribers
from newsletter.tokens import Signer
from tests.web.conftest import AppClient, add_member, count, csrf_token, membership, owner_of, sign_up


def _multipart_sign_up(client: AppClient, files: dict[str, tuple[str, bytes, str]], **data: str) -> object:
    form = client.get("/subscribe/erhverv")
    return client.post(
        "/subscribe/erhverv",
        data={"csrf_token": csrf_token(form.text), "email": "fil@example.com", **data},
        files=files,
    )


@pytest.mark.parametrize("field", ["name", "email", "lang", "website", "anything"])
def test_a_file_in_any_sign_up_field_is_refused_with_the_form(
    client: AppClient, engine: Engine, field: str
) -> None:
    data = {"name": "Fil Person"}
    data.pop(field, None)
    answer = _multipart_sign_up(client, {field: ("x.txt", b"Hej med dig", "text/plain")}, **data)
    assert answer.status_code == 400  # type: ignore[attr-defined]
    page = answer.text  # type: ignore[attr-defined]
    assert "kun tekst kan sendes, ingen filer" in page
    assert 'name="csrf_token"' in page  # the normal form, ready to fill in again
    assert "UploadFile" not in page
    assert count(engine, subscribers) == 0


def test_a_multipart_sign_up_with_text_fields_still_works(client: AppClient, engine: Engine) -> None:
    answer = client.post(
        "/subscribe/erhverv",
        content=(
            b'--b\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
            + csrf_token(client.get("/subscribe/erhverv").text).encode()
            + b'\r\n--b\r\nContent-Disposition: form-data; name="email"\r\n\r\ntekst@example.com'
            + b'\r\n--b\r\nContent-Disposition: form-data; name="name"\r\n\r\nTekst Person\r\n--b--\r\n'
        ),
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert answer.status_code == 200
    assert count(engine, subscribers) == 1


@pytest.mark.parametrize("name", ["Jens\x00Hansen", "Jens\x1b[31mHansen", "Jens\x7fHansen", "Jens\x9bHansen"])
def test_a_name_with_control_characters_is_refused(client: AppClient, engine: Engine, name: str) -> None:
    answer = sign_up(client, "kontrol@example.com", name=name)
    assert answer.status_code == 400
    assert "Navnet indeholder usynlige tegn eller linjeskift" in answer.text
    assert 'value="kontrol@example.com"' in answer.text  # the address is kept in the form
    assert count(engine, subscribers) == 0


def test_line_breaks_in_a_typed_name_become_spaces(client: AppClient, engine: Engine) -> None:
    # A textarea-like paste with line breaks is harmless once collapsed: kept as one line.
    answer = sign_up(client, "linjer@example.com", name="Jens\r\nBcc: x@evil.example\u2028Hansen")
    assert answer.status_code == 200
    with engine.connect() as conn:
        stored = conn.execute(subscribers.select()).one()
    assert stored.name == "Jens Bcc: x@evil.example Hansen"


def test_a_file_in_the_preferences_form_is_refused(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "pref@example.com")
    token = Signer().preferences_token(owner_of(engine, person))
    answer = client.post(f"/preferences/{token}", files={"leave_all": ("x.txt", b"1", "text/plain")})
    assert answer.status_code == 400
    assert "kun tekst kan sendes, ingen filer" in answer.text
    assert membership(engine, person, erhverv.id) == "subscribed"


def test_a_file_in_the_unsubscribe_form_is_refused(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    person = add_member(engine, "afmeld@example.com")
    token = Signer().unsubscribe_token(owner_of(engine, person), erhverv.id)
    answer = client.post(f"/u/{token}", files={"List-Unsubscribe": ("x.txt", b"One-Click", "text/plain")})
    assert answer.status_code == 400
    assert membership(engine, person, erhverv.id) == "subscribed"
    # The real one-click request, multipart as some mailbox providers send it, still works.
    answer = client.post(
        f"/u/{token}",
        content=b'--b\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--b--\r\n',
        headers={"content-type": "multipart/form-data; boundary=b"},
    )
    assert answer.status_code == 200
    assert membership(engine, person, erhverv.id) == "unsubscribed"


def test_a_file_in_the_confirm_form_is_refused(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    sign_up(client, "bekraeft@example.com")
    with engine.connect() as conn:
        person = conn.execute(subscribers.select()).one()
    token = Signer().confirm_token(owner_of(engine, person.id), erhverv.id)
    answer = client.post(f"/confirm/{token}", files={"lang": ("x.txt", b"da", "text/plain")})
    assert answer.status_code == 400
    assert membership(engine, person.id, erhverv.id) == "pending"
