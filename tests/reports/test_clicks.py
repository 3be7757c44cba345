"""Click tracking: off by default; when on, links go through /c/TOKEN, counted, never an open redirect."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from sqlalchemy import func, select

from newsletter.config import Settings, load_settings
from newsletter.send.service import prepare_issue
from newsletter.store.db import open_engine
from newsletter.store.schema import clicks, send_snapshots
from newsletter.tokens import LinkOwner, Signer
from newsletter.tracking import track_links
from newsletter.web import create_app
from tests.reports.conftest import ISSUE, ScriptedSend
from tests.web.conftest import AppClient

BASE = "https://nyhedsbrev.example.org"
TRACKED = re.compile(r"""href=["']https://nyhedsbrev\.example\.org(/c/[^"']+)["']""")


def _frozen_html(settings: Settings) -> str:
    with open_engine(settings.database_url).connect() as conn:
        return str(conn.execute(select(send_snapshots.c.html)).scalars().first())


def _click_count(settings: Settings) -> int:
    with open_engine(settings.database_url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(clicks)).scalar_one())


def test_links_are_rewritten_once_per_issue_and_own_links_are_left_alone(settings: Settings) -> None:
    tracked_settings = Settings(**{**settings.__dict__, "tracking": type(settings.tracking)(clicks=True)})
    html = (
        '<a href="https://example.org/a?x=1&amp;y=2">A</a> <a class="b" href=\'http://example.org/b\'>B</a> '
        f'<a href="{BASE}/u/%%nl:unsubscribe_url%%">Afmeld</a> <a href="{BASE}/issues/x">Web</a> '
        '<a href="mailto:jrau@balk.dk">Mail</a> <a href="%%nl:web_url%%">Web</a>'
    )
    signer = Signer()
    once = track_links(html, ISSUE, tracked_settings, signer)
    assert track_links(html, ISSUE, tracked_settings, Signer()) == once  # the same for every copy
    tokens = TRACKED.findall(once)
    assert len(tokens) == 2
    assert [signer.read_link(path.removeprefix("/c/")) for path in tokens] == [
        (ISSUE, "https://example.org/a?x=1&y=2"),
        (ISSUE, "http://example.org/b"),
    ]
    for untouched in (
        f"{BASE}/u/%%nl:unsubscribe_url%%",
        f"{BASE}/issues/x",
        "mailto:jrau@balk.dk",
        "%%nl:web_url%%",
    ):
        assert f'href="{untouched}"' in once

    # Off by default: the issue prepared for sending keeps its links as written.
    assert settings.tracking.clicks is False
    assert "/c/" not in prepare_issue(settings, ISSUE, run_checks=False).content.html
    assert TRACKED.search(prepare_issue(tracked_settings, ISSUE, run_checks=False).content.html)


def test_a_click_is_counted_and_redirected_to_the_signed_destination_only(
    scripted_send: Callable[..., ScriptedSend],
) -> None:
    scripted = scripted_send(tracking=True)
    frozen = _frozen_html(scripted.settings)
    paths = TRACKED.findall(frozen)
    assert paths, "the send froze no tracked link"
    destination = Signer().read_link(paths[0].removeprefix("/c/"))[1]

    for _ in range(2):
        answer = scripted.client.get(paths[0])
        assert answer.status_code == 302 and answer.headers["location"] == destination
        assert answer.headers["cache-control"] == "no-store"
    assert _click_count(scripted.settings) == 2

    refused = {
        "tampered": paths[0][:-3] + ("AAA" if not paths[0].endswith("AAA") else "BBB"),
        "not a token": "/c/aHR0cHM6Ly9ldmlsLmV4YW1wbGU",  # base64 of https://evil.example
        # Signed with the real key, but no issue carries it: no open redirect even with the key.
        "not in the issue": "/c/" + Signer().link_token(ISSUE, "https://evil.example/phish"),
        "an issue that does not exist": "/c/" + Signer().link_token("2030-01-01-findes-ikke", destination),
        "a preferences token": "/c/" + Signer().preferences_token(LinkOwner(1, "k")),
    }
    for why, path in refused.items():
        answer = scripted.client.get(path)
        assert answer.status_code == 404, why
        assert "location" not in answer.headers, why
        assert "Linket virker ikke" in answer.text, why
    assert _click_count(scripted.settings) == 2

    report = json.loads(scripted.cli("report", ISSUE, "--format", "json").stdout)
    assert report["links"] == [{"url": destination, "clicks": 2}]
    text = scripted.cli("report", ISSUE).output
    assert f"       2  {destination}" in text

    # Tracking turned off later: the issue's links still lead on, and are no longer counted.
    path = scripted.settings.path
    assert path is not None
    path.write_text(
        path.read_text(encoding="utf-8").replace("clicks = true", "clicks = false"), encoding="utf-8"
    )
    untracked = AppClient(create_app(load_settings(path)))
    try:
        answer = untracked.get(paths[0])
        assert answer.status_code == 302 and answer.headers["location"] == destination
    finally:
        untracked.close()
    assert _click_count(scripted.settings) == 2


def test_with_tracking_off_a_tracked_link_redirects_nowhere(
    scripted_send: Callable[..., ScriptedSend],
) -> None:
    scripted = scripted_send()
    assert "/c/" not in _frozen_html(scripted.settings)
    path = "/c/" + Signer().link_token(ISSUE, "https://example.org/businessballerup")
    answer = scripted.client.get(path)
    assert answer.status_code == 404 and "location" not in answer.headers
    assert _click_count(scripted.settings) == 0
