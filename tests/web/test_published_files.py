"""The archive serves only the images a sent issue shows — never a link, a draft's file or a path from the request."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine

from newsletter.config import Settings
from newsletter.store.lists import ListRow
from newsletter.store.schema import sends
from tests.web.conftest import AppClient, mark_sent

SENT = "2020-03-02-nyt-fra-erhvervsservice"
DRAFT_TEXT = "---\nsubject: Kladde\n---\n\nHemmeligt.\n\n![Et billede](kildedal.png)\n"


def _database(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite:///"))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_links_in_a_sent_issue_folder_are_never_served(
    client: AppClient, engine: Engine, erhverv: ListRow, settings: Settings
) -> None:
    folder = settings.issues_dir / SENT
    database = _database(settings)
    os.symlink(os.path.relpath(database, folder), folder / "logo.png")
    os.symlink("/etc/passwd", folder / "passwd.png")
    os.link(database, folder / "kopi.png")
    mark_sent(engine, erhverv, SENT)
    assert client.get(f"/issues/{SENT}/kildedal.png").status_code == 200
    for name in ("logo.png", "passwd.png", "kopi.png"):
        answer = client.get(f"/issues/{SENT}/{name}")
        assert answer.status_code == 404, name
        assert b"SQLite format" not in answer.content and b"root:" not in answer.content


def test_only_the_images_the_sent_issue_shows_are_served(
    client: AppClient, engine: Engine, erhverv: ListRow, settings: Settings
) -> None:
    folder = settings.issues_dir / SENT
    png = (folder / "kildedal.png").read_bytes()
    (folder / "ubrugt.png").write_bytes(png)  # in the folder, but the issue does not show it
    (folder / ".skjult.png").write_bytes(png)
    (folder / "kladde.md").write_text("udkast", encoding="utf-8")
    mark_sent(engine, erhverv, SENT)
    assert client.get(f"/issues/{SENT}/kildedal.png").content == png
    for path in (
        "ubrugt.png",
        ".skjult.png",
        "kladde.md",
        "KILDEDAL.PNG",
        "kildedal.png/",
        "%2e%2e/%2e%2e/newsletter.toml",
        "..%2F..%2Fnewsletter.toml",
        "%252e%252e%252fnewsletter.toml",
        "..%5C..%5Cnewsletter.toml",
        "kildedal.png%00.md",
    ):
        assert client.get(f"/issues/{SENT}/{path}").status_code == 404, path


@pytest.mark.parametrize("status", [None, "planned"])
def test_nothing_of_an_unsent_issue_is_served(
    client: AppClient, engine: Engine, erhverv: ListRow, settings: Settings, status: str | None
) -> None:
    draft = "2030-01-01-kladde"
    (settings.issues_dir / f"{draft}.md").write_text(DRAFT_TEXT, encoding="utf-8")
    (settings.issues_dir / draft).mkdir()
    shutil.copy(settings.issues_dir / SENT / "kildedal.png", settings.issues_dir / draft / "kildedal.png")
    if status:
        mark_sent(engine, erhverv, draft, status=status)
    assert client.get(f"/issues/{draft}").status_code == 404
    assert client.get(f"/issues/{draft}/kildedal.png").status_code == 404
    assert draft not in client.get("/").text and draft not in client.get("/feed.xml").text
    with engine.begin() as conn:  # the same rule opens page and image together
        conn.execute(sends.delete().where(sends.c.issue == draft))
    mark_sent(engine, erhverv, draft, status="sending")
    assert client.get(f"/issues/{draft}").status_code == 200
    assert client.get(f"/issues/{draft}/kildedal.png").status_code == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_sent_issue_file_or_folder_that_is_a_link_is_not_opened(
    client: AppClient, engine: Engine, erhverv: ListRow, settings: Settings
) -> None:
    project = settings.issues_dir.parent
    linked = "2030-02-02-linket"
    os.symlink(
        os.path.relpath(_database(settings), settings.issues_dir), settings.issues_dir / f"{linked}.md"
    )
    # issues/<slug> a link to the project folder, holding a real PNG beside the database.
    folder_link = "2030-03-03-mappe"
    (settings.issues_dir / f"{folder_link}.md").write_text(
        "---\nsubject: Mappe\n---\n\n![Logo](logo.png)\n", encoding="utf-8"
    )
    shutil.copy(settings.issues_dir / SENT / "kildedal.png", project / "logo.png")
    os.symlink("..", settings.issues_dir / folder_link)
    for slug in (linked, folder_link):
        mark_sent(engine, erhverv, slug)
        assert client.get(f"/issues/{slug}").status_code == 404
        assert client.get(f"/issues/{slug}/logo.png").status_code == 404
        assert client.get(f"/issues/{slug}/newsletter.toml").status_code == 404
    assert client.get("/").status_code == 200


def test_an_image_that_is_not_what_its_name_says_is_refused(
    client: AppClient, engine: Engine, erhverv: ListRow, settings: Settings
) -> None:
    (settings.issues_dir / SENT / "kildedal.png").write_text("root:x:0:0:root:/root:/bin/bash\n")
    mark_sent(engine, erhverv, SENT)
    assert client.get(f"/issues/{SENT}/kildedal.png").status_code == 404
