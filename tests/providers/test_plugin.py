"""docs/providers.md "Write your own provider", installed as a real plug-in and used for a real send.

The page's Python block becomes a module on ``sys.path`` with a ``*.dist-info``
whose ``entry_points.txt`` says what the page's ``pyproject.toml`` block says,
so the catalogue finds it through :mod:`importlib.metadata` exactly as it finds
an installed package. Then ``newsletter send`` sends the sample issue through
it to a small Acme Mail API on 127.0.0.1. If the page drifts from the code, this
fails.
"""

from __future__ import annotations

import json
import re
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from newsletter.cli import main
from newsletter.config import load_settings
from newsletter.errors import ConfigError
from newsletter.providers import catalogue, registry
from newsletter.store.db import open_engine
from tests.conftest import REPO
from tests.send.conftest import write_settings
from tests.send.helpers import addresses, subscribe_many

ISSUE = "2019-12-20-tak-for-et-godt-2019"
PAGE = REPO / "docs" / "providers.md"
KEY = "acme-SECRET-key-93f1c2"


def _page_blocks(language: str) -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text.split("## Write your own provider", 1)[1]
    return re.findall(rf"```{language}\n(.*?)```", section, flags=re.DOTALL)


@pytest.fixture
def acme_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    code = _page_blocks("python")[0]
    entry_points = tomllib.loads(_page_blocks("toml")[0])["project"]["entry-points"]
    [(group, declared)] = entry_points.items()
    assert group == catalogue.ENTRY_POINT_GROUP
    site = tmp_path / "site"
    site.mkdir()
    module, _, _ = declared["acme"].partition(":")
    (site / f"{module}.py").write_text(code, encoding="utf-8")
    dist_info = site / "newsletter_acme-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: newsletter-acme\nVersion: 0.1\n")
    lines = [f"[{group}]", *(f"{name} = {target}" for name, target in declared.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(site))
    catalogue.declared.cache_clear()
    yield
    catalogue.declared.cache_clear()


class AcmeApi(BaseHTTPRequestHandler):
    """Acme Mail as the page describes it: one answer per message, an error for a bad address."""

    received: ClassVar[list[dict[str, Any]]] = []
    refused = "person000003@example.com"

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path != "/v1/batch" or self.headers["Authorization"] != f"Bearer {KEY}":
            self._answer(401, {"error": "unauthorised"})
            return
        answers = []
        for message in body["messages"]:
            if message["to"] == self.refused:
                answers.append({"error": "mailbox does not exist"})
            else:
                type(self).received.append({"account": body["account"], **message})
                answers.append({"id": f"acme-{len(self.received)}"})
        self._answer(200, answers)

    def _answer(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads what was received, not a log."""


@pytest.fixture
def acme_api() -> Iterator[str]:
    AcmeApi.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), AcmeApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_s_provider_is_registered_beside_the_built_in_ones(acme_installed: None) -> None:
    assert "acme" in catalogue.names()
    assert catalogue.names()[-1] == "acme"  # plug-ins after the built-ins
    assert catalogue.declaration("acme").label == "Acme Mail"
    assert registry.provider_class("acme") is catalogue.declaration("acme")  # the plug-in is its own adapter


def test_a_send_through_the_plug_in_reaches_everyone_once(
    acme_installed: None, acme_api: str, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACME_API_KEY", KEY)
    path = write_settings(tmp_path / "project", database_url, "acme", acme_api, acme_account="ballerup")
    settings = load_settings(path)
    people = addresses(7)
    subscribe_many(open_engine(settings.database_url), people)

    first = CliRunner().invoke(main, ["--config", str(path), "send", ISSUE, "--list", "erhverv", "--yes"])
    assert "This run: sent 6, failed 1" in first.output, first.output
    assert sorted(m["to"] for m in AcmeApi.received) == sorted(set(people) - {AcmeApi.refused})
    message = AcmeApi.received[0]
    assert message["account"] == "ballerup"
    assert message["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The list's title from the database, and one campaign for everyone: no recipient in either.
    assert {(m["headers"]["List-Id"], m["headers"]["Feedback-ID"]) for m in AcmeApi.received} == {
        ("Liste erhverv <erhverv.nyhedsbrev.example.org>", f"{ISSUE}:erhverv:example-org")
    }
    assert message["metadata"]["nl_issue"] == ISSUE
    assert KEY not in first.output

    again = CliRunner().invoke(main, ["--config", str(path), "send", ISSUE, "--list", "erhverv", "--yes"])
    assert "This run: sent 0" in again.output, again.output
    assert len(AcmeApi.received) == 6


def test_the_plug_in_s_settings_and_key_are_checked_like_the_built_in_ones(
    acme_installed: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_settings(tmp_path / "project", f"sqlite:///{tmp_path / 'n.db'}", "acme")
    with pytest.raises(ConfigError, match=r"\[provider\] acme_account: is required"):
        load_settings(path)
    path = write_settings(
        tmp_path / "project", f"sqlite:///{tmp_path / 'n.db'}", "acme", acme_account="ballerup", batch_size=51
    )
    with pytest.raises(ConfigError, match=r"\[provider\] batch_size: 51 is out of range — use 1 to 50"):
        load_settings(path)

    monkeypatch.delenv("ACME_API_KEY", raising=False)
    path = write_settings(
        tmp_path / "project", f"sqlite:///{tmp_path / 'n.db'}", "acme", acme_account="ballerup"
    )
    refused = CliRunner().invoke(main, ["--config", str(path), "send", ISSUE, "--list", "erhverv", "--yes"])
    assert refused.exit_code != 0
    assert "ACME_API_KEY is not set — export an Acme Mail API key" in refused.output


def test_an_unknown_provider_lists_the_registered_ones_plug_ins_included(
    acme_installed: None, tmp_path: Path
) -> None:
    path = write_settings(tmp_path / "project", f"sqlite:///{tmp_path / 'n.db'}", "mailchimp")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "[provider] name: 'mailchimp' is not one of: " in str(caught.value)
    assert ", acme" in str(caught.value) and "postmark" in str(caught.value)


def test_a_plug_in_cannot_take_a_built_in_s_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    site = tmp_path / "site"
    (site / "impostor-0.1.dist-info").mkdir(parents=True)
    (site / "impostor.py").write_text(
        "from newsletter.providers.postmark import PostmarkProvider\n\n"
        "class Impostor(PostmarkProvider):\n    name = 'postmark'\n"
    )
    (site / "impostor-0.1.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: impostor\nVersion: 0.1\n"
    )
    (site / "impostor-0.1.dist-info" / "entry_points.txt").write_text(
        f"[{catalogue.ENTRY_POINT_GROUP}]\npostmark = impostor:Impostor\n"
    )
    monkeypatch.syspath_prepend(str(site))
    catalogue.declared.cache_clear()
    try:
        with caplog.at_level("WARNING", logger="newsletter.providers"):
            chosen = registry.provider_class("postmark")
    finally:
        catalogue.declared.cache_clear()
    assert chosen.__module__ == "newsletter.providers.postmark"
    assert "provider plug-in 'postmark' (impostor:Impostor) is skipped: that name is taken" in caplog.text
