"""The public archive: only sent issues, web versions without personal data, images, the Atom feed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

from sqlalchemy import Engine

from newsletter.store.lists import ListRow
from tests.web.conftest import AppClient, add_delivery, add_member, mark_sent

OLDER = "2019-12-20-tak-for-et-godt-2019"
NEWER = "2020-03-02-nyt-fra-erhvervsservice"
ATOM = "{http://www.w3.org/2005/Atom}"


def test_empty_archive_and_unsent_issue_is_private(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "Der er ikke sendt nogen nyhedsbreve endnu." in page.text
    assert 'href="/subscribe/erhverv?lang=da"' in page.text
    mark_sent(engine, erhverv, NEWER, 1, status="planned")  # planned is not sent
    assert client.get(f"/issues/{NEWER}").status_code == 404
    assert NEWER not in client.get("/").text


def test_sent_issues_listed_newest_first(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    mark_sent(engine, erhverv, OLDER, 30)
    mark_sent(engine, erhverv, NEWER, 2)
    page = client.get("/").text
    assert page.index(f"/issues/{NEWER}") < page.index(f"/issues/{OLDER}")


def test_web_version_has_no_personal_data(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    person = add_member(engine, "jens@example.com", name="Jens Hansen")
    add_delivery(engine, person, erhverv, issue=NEWER)
    page = client.get(f"/issues/{NEWER}")
    assert page.status_code == 200
    html = page.text
    assert "<html" in html and 'lang="da"' in html
    assert "%%nl:" not in html  # every placeholder was merged
    assert "/u/" not in html and "/preferences/" not in html  # no working token
    assert "Jens Hansen" not in html and "jens@example.com" not in html
    assert "https://nyhedsbrev.example.org/about/unsubscribe" in html
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    explain = client.get("/about/unsubscribe?lang=da")
    assert "Brug frameldingslinket i den e-mail" in explain.text
    assert client.get(f"/issues/{NEWER}").text == html  # cached render, same answer


def test_issue_images_are_served_and_paths_are_checked(
    client: AppClient, engine: Engine, erhverv: ListRow
) -> None:
    mark_sent(engine, erhverv, NEWER, 1)
    image = client.get(f"/issues/{NEWER}/kildedal.png")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    assert image.content.startswith(b"\x89PNG")
    for bad in (
        f"/issues/{NEWER}/..%2F..%2Fnewsletter.toml",
        f"/issues/{NEWER}/missing.png",
        f"/issues/{NEWER}/x.md",
    ):
        assert client.get(bad).status_code == 404


def test_atom_feed(client: AppClient, engine: Engine, erhverv: ListRow) -> None:
    mark_sent(engine, erhverv, OLDER, 30)
    mark_sent(engine, erhverv, NEWER, 2)
    answer = client.get("/feed.xml")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/atom+xml")
    root = ElementTree.fromstring(answer.content)
    entries = root.findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in entries] == [
        f"https://nyhedsbrev.example.org/issues/{NEWER}",
        f"https://nyhedsbrev.example.org/issues/{OLDER}",
    ]
    assert all(re.match(r"\d{4}-\d\d-\d\dT", e.findtext(f"{ATOM}updated") or "") for e in entries)
    assert root.findtext(f"{ATOM}title")


def test_unknown_page_is_a_friendly_404(client: AppClient) -> None:
    page = client.get("/no/such/page?lang=en")
    assert page.status_code == 404
    assert "Page not found" in page.text
