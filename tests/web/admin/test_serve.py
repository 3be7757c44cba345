"""``newsletter serve`` with ``[admin] port``: the workspace listens apart, and not beside the public pages."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.conftest import write_project
from tests.web.serving import free_port, server_process


def answer(url: str, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, timeout=2)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_workspace_gets_its_own_listener(tmp_path: Path) -> None:
    port = free_port()
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db", f"\n[admin]\nport = {port}\n")
    with server_process(config) as (public_url, _process):
        workspace = answer(f"http://127.0.0.1:{port}/admin/login")
        assert workspace.status_code == 200 and "Log ind" in workspace.text
        assert httpx.get(f"http://127.0.0.1:{port}/subscribe/erhverv").status_code == 404
        assert httpx.get(f"{public_url}/admin/login").status_code == 404
        assert httpx.get(f"{public_url}/").status_code == 200


def test_the_workspace_can_be_turned_off(tmp_path: Path) -> None:
    config = write_project(tmp_path / "project", "sqlite:///newsletter.db", "\n[admin]\nenabled = false\n")
    with server_process(config) as (public_url, _process):
        assert httpx.get(f"{public_url}/admin/login").status_code == 404
        assert httpx.get(f"{public_url}/").status_code == 200
