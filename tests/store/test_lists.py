from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from newsletter.errors import AlreadyExists, NotFound, StoreError
from newsletter.store.lists import ListRow, all_lists, create_list, delete_list, get_list, get_list_by_id
from newsletter.store.schema import consent_log
from newsletter.store.subscribers import add_subscriber


def test_create_and_read_back(engine: Engine) -> None:
    with engine.begin() as conn:
        created = create_list(
            conn, "erhverv", "Erhvervsnyt", "Nyt fra kommunen", language="da", consent_text="Ja tak"
        )
    with engine.connect() as conn:
        found = get_list(conn, "erhverv")
        assert found == created
        assert get_list_by_id(conn, created.id) == created
        assert found.created_at.tzinfo is not None
        assert [row.name for row in all_lists(conn)] == ["erhverv"]


def test_duplicate_name_is_refused(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn, pytest.raises(AlreadyExists, match="'erhverv' already exists"):
        create_list(conn, "erhverv", "Igen")


@pytest.mark.parametrize("name", ["", "Erhverv", "med mellemrum", "æøå", "x" * 65])
def test_unusable_names_are_refused(engine: Engine, name: str) -> None:
    with engine.begin() as conn, pytest.raises(StoreError, match="not usable"):
        create_list(conn, name, "Titel")


def test_title_is_required(engine: Engine) -> None:
    with engine.begin() as conn, pytest.raises(StoreError, match="needs a title"):
        create_list(conn, "erhverv", "  ")


def test_unknown_list_names_the_existing_ones(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        create_list(conn, "kultur", "Kulturnyt")
    with engine.connect() as conn, pytest.raises(NotFound, match="existing lists: erhverv, kultur"):
        get_list(conn, "erhvrev")


def test_unknown_list_when_there_are_none(engine: Engine) -> None:
    with engine.connect() as conn, pytest.raises(NotFound, match="no lists yet"):
        get_list(conn, "erhverv")


def test_delete_refuses_while_members_unless_forced(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        add_subscriber(conn, "jens@firma.dk", "erhverv")
    with engine.begin() as conn, pytest.raises(StoreError, match="1 member"):
        delete_list(conn, "erhverv")
    with engine.begin() as conn:
        delete_list(conn, "erhverv", force=True)
    with engine.connect() as conn:
        assert all_lists(conn) == []
        # The consent record survives the list, detached from it.
        assert conn.execute(select(consent_log.c.list_id)).scalars().all() == [None]


def test_delete_empty_list(engine: Engine, erhverv: ListRow) -> None:
    with engine.begin() as conn:
        delete_list(conn, "erhverv")
    with engine.connect() as conn, pytest.raises(NotFound):
        get_list(conn, "erhverv")
