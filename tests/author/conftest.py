"""The author area reads issues and templates, not the store: one SQLite run per test is enough."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsletter.db'}"
