"""Store fixtures: a migrated engine on the parametrised database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from newsletter.store import db
from newsletter.store.lists import ListRow, create_list


@pytest.fixture
def engine(database_url: str) -> Engine:
    return db.open_engine(database_url)


@pytest.fixture
def erhverv(engine: Engine) -> ListRow:
    with engine.begin() as conn:
        return create_list(conn, "erhverv", "Erhvervsnyt", consent_text="Ja tak til nyhedsbrevet")
