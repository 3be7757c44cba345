"""The web service against a hostile visitor: links that leave the site, forged client addresses,
rate limits dodged by talking to another instance, and answers without the security headers.

Most tests go through the application in-process; the ones about what uvicorn itself does
(forwarded headers, unparseable requests) run ``newsletter serve`` as a real process on loopback.
"""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, select
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from newsletter.cli.serve import with_secure_errors
from newsletter.config import Settings, load_settings, settings_from_dict
from newsletter.errors import ConfigError
from newsletter.store.db import open_engine
from newsletter.store.lists import create_list
from newsletter.store.schema import consent_log, rate_limits
from newsletter.tokens import Signer
from newsletter.web import RateLimits, create_app, unsubscribe
from newsletter.web.security import RateLimiter, client_key, local_link
from tests.conftest import write_project
from tests.web.conftest import (
    BASE,
    CONSENT,
    AppClient,
    add_member,
    confirm_link,
    csrf_token,
    outbox_messages,
    owner_of,
    sign_up,
)
from tests.web.serving import free_port, server_process, wait_for_files

HOST = urlsplit(BASE).netloc
LINK = re.compile(r'(?:href|src|action)="([^"]*)"')


def _links(page: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in LINK.findall(page)]


def _assert_links_stay_here(page_url: str, page: str) -> None:
    links = _links(page)
    assert links, "the page has no links to check"
    for link in links:
        # Browsers read a backslash in a path as a slash: "/\evil" is "//evil".
        assert not link.replace("\\", "/").startswith("//"), link
        assert urlsplit(urljoin(page_url, link)).netloc == HOST, link


# --- links built from the request ------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/x",
        "///evil.example/x",
        "/\\evil.example/x",
        "/%2F%2Fevil.example/x",
        "/%5Cevil.example",
    ],
)
def test_a_404_for_a_path_that_looks_like_another_site_links_only_here(client: AppClient, path: str) -> None:
    page = client.get(httpx.URL(BASE + path))
    assert page.status_code == 404
    assert "Siden findes ikke" in page.text
    _assert_links_stay_here(BASE + path, page.text)
    switch = re.search(r'href="([^"]*)" lang="en"', page.text)
    assert switch is not None and switch.group(1).startswith("/") and "lang=en" in switch.group(1)


def test_the_language_switch_keeps_the_page_and_its_query(client: AppClient) -> None:
    page = client.get("/subscribe/erhverv?utm=x")
    switch = re.search(r'href="([^"]*)" lang="en"', page.text)
    assert switch is not None
    assert switch.group(1).replace("&amp;", "&") == "/subscribe/erhverv?utm=x&lang=en"


def test_local_link_never_leaves_the_service() -> None:
    assert local_link("//evil.example/x") == "/evil.example/x"
    assert local_link("/\\evil.example") == "/%5Cevil.example"
    assert local_link("/a?b#c") == "/a%3Fb%23c"  # a decoded %3F must not start a query
    assert local_link("/subscribe/erhverv") == "/subscribe/erhverv"


def test_a_hostile_host_header_reaches_no_link_redirect_or_email(
    client: AppClient, settings: Settings
) -> None:
    hostile = {"Host": "evil.example"}
    for path in ("/", "/subscribe/erhverv", "/feed.xml", "/nothing-here", "/issues/nope"):
        answer = client.get(path, headers=hostile)
        assert "evil.example" not in answer.text, path
        assert "evil.example" not in answer.headers.get("location", ""), path
    # Starlette's trailing-slash redirect was built from the Host header: now a plain 404.
    for path in ("/feed.xml/", "/subscribe/erhverv/"):
        answer = client.get(path, headers=hostile)
        assert answer.status_code == 404, path
        assert "location" not in answer.headers, path
    form = client.get("/subscribe/erhverv", headers=hostile)
    answer = client.post(
        "/subscribe/erhverv",
        data={"csrf_token": csrf_token(form.text), "email": "host@example.com"},
        headers=hostile,
    )
    assert answer.status_code == 200
    [message] = outbox_messages(settings)
    assert confirm_link(message).startswith(BASE + "/confirm/")
    assert "evil.example" not in message.as_string()


# --- X-Forwarded-For ---------------------------------------------------------------------------


def _with_serve_settings(settings: Settings, toml: str) -> Settings:
    assert settings.path is not None
    settings.path.write_text(settings.path.read_text() + "\n[serve]\n" + toml + "\n")
    return load_settings(settings.path)


def _consent_ips(engine: Engine) -> set[str | None]:
    with engine.connect() as conn:
        return set(conn.execute(select(consent_log.c.ip)).scalars())


def test_forwarded_for_is_ignored_unless_the_proxy_is_named(
    settings: Settings, erhverv: Any, engine: Engine
) -> None:
    client = AppClient(create_app(settings, rate_limits=RateLimits(per_ip=2)))
    answers = []
    try:
        for i in range(3):
            client.client.headers["X-Forwarded-For"] = f"203.0.113.{i}"
            answers.append(sign_up(client, f"p{i}@example.com").status_code)
    finally:
        client.close()
    assert answers == [200, 200, 429]
    assert _consent_ips(engine) == {"127.0.0.1"}


def test_a_named_proxy_gives_the_rightmost_address_it_did_not_add(
    settings: Settings, erhverv: Any, engine: Engine
) -> None:
    settings = _with_serve_settings(settings, 'trusted_proxies = ["127.0.0.1", "10.0.0.0/8"]')
    client = AppClient(create_app(settings))
    try:
        # The visitor typed the first entry; the proxies appended the rest.
        client.client.headers["X-Forwarded-For"] = "198.51.100.66, 203.0.113.9, 10.1.2.3"
        assert sign_up(client, "chain@example.com").status_code == 200
    finally:
        client.close()
    assert _consent_ips(engine) == {"203.0.113.9"}


def test_forwarded_for_from_a_peer_that_is_not_a_named_proxy_is_ignored(
    settings: Settings, erhverv: Any, engine: Engine
) -> None:
    settings = _with_serve_settings(settings, 'trusted_proxies = ["10.0.0.1"]')
    client = AppClient(create_app(settings))
    try:
        client.client.headers["X-Forwarded-For"] = "198.51.100.66"
        assert sign_up(client, "direct@example.com").status_code == 200
    finally:
        client.close()
    assert _consent_ips(engine) == {"127.0.0.1"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('"127.0.0.1"', "must be a list of addresses in quotes"),
        ('["localhost"]', "'localhost' is not an IP address or network"),
    ],
)
def test_a_wrong_trusted_proxies_setting_is_one_line(value: str, message: str) -> None:
    data = {
        "organisation": {"name": "X", "address": "Y"},
        "sender": {"name": "X", "email": "x@example.com"},
        "site": {"base_url": BASE},
        "serve": {"trusted_proxies": tomllib.loads(f"v = {value}")["v"]},
    }
    with pytest.raises(ConfigError) as caught:
        settings_from_dict(data)
    assert "[serve] trusted_proxies:" in str(caught.value) and message in str(caught.value)
    assert "\n" not in str(caught.value)


def _real_sign_up(client: httpx.Client, address: str, headers: dict[str, str] | None = None) -> int:
    form = client.get("/subscribe/erhverv")
    answer = client.post(
        "/subscribe/erhverv",
        data={"csrf_token": csrf_token(form.text), "email": address},
        headers=headers or {},
    )
    return answer.status_code


def _project(tmp_path: Path, database_url: str, name: str = "project", *, with_list: bool = True) -> Path:
    config = write_project(tmp_path / name, database_url)
    if with_list:
        with open_engine(load_settings(config).database_url).begin() as conn:
            create_list(conn, "erhverv", "Erhvervsnyt", "", "da", CONSENT)
    return config


def test_a_real_server_does_not_believe_forwarded_for_from_loopback(tmp_path: Path, sqlite_url: str) -> None:
    """uvicorn believed X-Forwarded-For from 127.0.0.1 by default: rotating it dodged the per-IP limit."""
    config = _project(tmp_path, sqlite_url)
    with server_process(config) as (url, _), httpx.Client(base_url=url) as client:
        answers = [
            _real_sign_up(client, f"rot{i}@example.com", {"X-Forwarded-For": f"203.0.113.{i}"})
            for i in range(RateLimits().per_ip + 1)
        ]
    assert answers[-1] == 429 and set(answers[:-1]) == {200}
    assert _consent_ips(open_engine(load_settings(config).database_url)) == {"127.0.0.1"}


# --- rate limits shared by every instance ------------------------------------------------------


def test_two_app_instances_share_the_per_ip_limit(settings: Settings, erhverv: Any) -> None:
    first = AppClient(create_app(settings, rate_limits=RateLimits(per_ip=3)))
    second = AppClient(create_app(settings, rate_limits=RateLimits(per_ip=3)))
    try:
        assert sign_up(first, "one@example.com").status_code == 200
        assert sign_up(second, "two@example.com").status_code == 200
        assert sign_up(first, "three@example.com").status_code == 200
        assert sign_up(second, "four@example.com").status_code == 429
        assert sign_up(first, "five@example.com").status_code == 429
    finally:
        first.close()
        second.close()


def test_two_real_servers_on_one_database_share_the_per_address_limit(
    tmp_path: Path, database_url: str
) -> None:
    config_a = _project(tmp_path, database_url, "a")
    config_b = _project(tmp_path, database_url, "b", with_list=False)
    limit = RateLimits().per_address
    with (
        server_process(config_a) as (url_a, _),
        server_process(config_b) as (url_b, _),
        httpx.Client(base_url=url_a) as a,
        httpx.Client(base_url=url_b) as b,
    ):
        answers = [_real_sign_up((a, b)[i % 2], "Shared@Example.com") for i in range(limit + 2)]
    assert answers == [200] * limit + [429, 429]
    wait_for_files(tmp_path / "a" / "outbox", count=1)


def test_the_database_limiter_slides_and_prunes(engine: Engine) -> None:
    now = [1_000_020.0]  # the start of a 60-second window
    limiter = RateLimiter("test", 4, 60, clock=lambda: now[0])

    def hit(key: str = "k") -> bool:
        with engine.begin() as conn:
            return limiter.hit(conn, key)

    assert [hit() for _ in range(5)] == [True, True, True, True, False]
    assert hit("other")
    now[0] += 60 + 15  # a quarter into the next window: 3/4 of the old 4 hits still count
    assert [hit() for _ in range(2)] == [True, False]
    now[0] += 60 * 3  # long after: old rows are pruned, the key starts afresh
    limiter._next_prune = 0
    assert hit()
    with engine.connect() as conn:
        windows = conn.execute(select(rate_limits.c.window_no, rate_limits.c.bucket)).all()
    assert len(windows) == 1  # only the current window of "k" is left
    assert all(len(bucket) == 64 and "k" not in bucket for _, bucket in windows)


def test_requests_across_a_window_boundary_never_get_past_the_limit(engine: Engine) -> None:
    now = [1_000_020.0 + 59.9]  # the last moment of a 60-second window
    limiter = RateLimiter("test", 2, 60, clock=lambda: now[0])

    def hit() -> bool:
        with engine.begin() as conn:
            return limiter.hit(conn, "k")

    assert [hit(), hit()] == [True, True]
    now[0] += 0.2  # a moment later, in the next window
    assert not hit()


# --- answers that carry the security headers -------------------------------------------------


def _assert_security_headers(headers: dict[str, str], what: str) -> None:
    assert "frame-ancestors 'none'" in headers.get("content-security-policy", ""), what
    assert headers.get("x-content-type-options") == "nosniff", what
    assert headers.get("x-frame-options") == "DENY", what
    assert headers.get("referrer-policy") == "no-referrer", what


def _raw_exchange(url: str, request: bytes) -> tuple[int, dict[str, str]]:
    host, port = urlsplit(url).hostname, urlsplit(url).port
    assert host and port
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    status = int(head[0].split()[1])
    headers = {}
    for line in head[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


BROKEN_REQUESTS = {
    "bad method": b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
    "negative Content-Length": b"POST /subscribe/erhverv HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "malformed request line": b"GARBAGE\r\n\r\n",
    "bad header": b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
}


def test_uvicorns_own_400_answers_carry_the_security_headers(tmp_path: Path, sqlite_url: str) -> None:
    config = _project(tmp_path, sqlite_url)
    with server_process(config) as (url, _):
        for what, request in BROKEN_REQUESTS.items():
            status, headers = _raw_exchange(url, request)
            assert status == 400, what
            _assert_security_headers(headers, what)
            assert "server" not in headers, what
        status, headers = _raw_exchange(
            url, b"GET /feed.xml HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        assert status == 200
        assert list(headers).count("x-frame-options") == 1  # once, not doubled by the fix


def test_every_kind_of_answer_has_the_headers_and_personal_ones_are_not_cached(
    client: AppClient, engine: Engine, erhverv: Any
) -> None:
    person = add_member(engine, "cache@example.com")
    signer = Signer()
    unsubscribe = f"/u/{signer.unsubscribe_token(owner_of(engine, person), erhverv.id)}"
    confirm = f"/confirm/{signer.confirm_token(owner_of(engine, person), erhverv.id)}"
    answers = {
        "404": client.get("/nothing"),
        "405": client.request("PUT", "/subscribe/erhverv"),
        "413": client.post("/subscribe/erhverv", content=b"x" * (65 * 1024)),
        "webhook 404": client.post("/webhooks/nobody", content=b"{}"),
        "feed": client.get("/feed.xml"),
        "unsubscribe page": client.get(unsubscribe),
        "confirm page": client.get(confirm),
        "one-click": client.post(
            unsubscribe,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        ),
    }
    for what, answer in answers.items():
        _assert_security_headers(dict(answer.headers), what)
        assert "public" not in answer.headers.get("cache-control", ""), what
    for what in ("unsubscribe page", "confirm page", "one-click", "404", "405", "413", "webhook 404"):
        assert answers[what].headers.get("cache-control") == "no-store", what


@pytest.mark.parametrize("base", [H11Protocol, HttpToolsProtocol], ids=["h11", "httptools"])
def test_both_uvicorn_parsers_answer_broken_requests_with_the_headers(
    base: type[asyncio.Protocol], app: Any
) -> None:
    """`serve` takes whichever parser uvicorn finds installed: both must carry the headers."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            http=with_secure_errors(base),
            log_level="critical",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.02)
        for what, request in BROKEN_REQUESTS.items():
            status, headers = _raw_exchange(f"http://127.0.0.1:{port}", request)
            assert status == 400, what
            _assert_security_headers(headers, what)
    finally:
        server.should_exit = True
        thread.join(10)


def test_an_ipv6_visitor_cannot_rotate_through_its_own_64(settings: Settings, erhverv: Any) -> None:
    def from_address(ip: str) -> AppClient:
        return AppClient(create_app(settings, rate_limits=RateLimits(per_ip=2)), client_address=(ip, 1234))

    answers = []
    for i in range(3):
        client = from_address(f"2001:db8:1:2::{i + 1:x}")
        try:
            answers.append(sign_up(client, f"six{i}@example.com").status_code)
        finally:
            client.close()
    other = from_address("2001:db8:1:3::1")  # another /64: another household
    try:
        answers.append(sign_up(other, "six-other@example.com").status_code)
    finally:
        other.close()
    assert answers == [200, 200, 429, 200]
    assert client_key("::ffff:192.0.2.7") == "192.0.2.7"


def test_an_error_on_a_personal_link_does_not_log_its_token(
    app: Any, engine: Engine, erhverv: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*_args: object) -> bool:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(unsubscribe, "_unsubscribe", explode)
    token = Signer().unsubscribe_token(owner_of(engine, add_member(engine, "logged@example.com")), erhverv.id)
    client = AppClient(app, raise_app_exceptions=False)
    try:
        answer = client.post(
            f"/u/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
    finally:
        client.close()
    assert answer.status_code == 500
    assert "the database went away" in caplog.text and "/u/{token}" in caplog.text
    assert token not in caplog.text


def test_simultaneous_sign_ups_on_two_servers_never_exceed_the_limit(
    tmp_path: Path, database_url: str
) -> None:
    """The count is one atomic upsert: racing requests on two processes cannot both take the last slot."""
    config_a = _project(tmp_path, database_url, "a")
    config_b = _project(tmp_path, database_url, "b", with_list=False)
    limit = RateLimits().per_ip  # every request comes from 127.0.0.1
    with server_process(config_a) as (url_a, _), server_process(config_b) as (url_b, _):
        clients = [httpx.Client(base_url=(url_a, url_b)[i % 2], timeout=30) for i in range(limit + 4)]
        try:
            tokens = [csrf_token(client.get("/subscribe/erhverv").text) for client in clients]
            start = threading.Barrier(len(clients))

            def post(i: int) -> int:
                start.wait()
                data = {"csrf_token": tokens[i], "email": f"race{i}@example.com"}
                return clients[i].post("/subscribe/erhverv", data=data).status_code

            with ThreadPoolExecutor(len(clients)) as pool:
                answers = list(pool.map(post, range(len(clients))))
        finally:
            for client in clients:
                client.close()
    assert sorted(answers) == [200] * limit + [429] * 4, str(sorted(answers))
