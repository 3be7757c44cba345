"""``--online``: does every link and image answer? HEAD first, GET when HEAD is refused, concurrently."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx

from newsletter.checks.core import Finding, SourceMap

ONLINE_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ONLINE_WORKERS = 8


def check_online(
    urls: Iterable[str],
    *,
    client: httpx.Client | None = None,
    source: SourceMap | None = None,
    workers: int = ONLINE_WORKERS,
) -> list[Finding]:
    """A finding per http(s) URL that does not answer with a success, checked concurrently."""
    where = source or SourceMap("")
    unique = [u for u in dict.fromkeys(urls) if urlparse(u).scheme in ("http", "https")]
    own_client = client is None
    http = client or httpx.Client(timeout=ONLINE_TIMEOUT, follow_redirects=True)
    try:
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            problems = list(pool.map(lambda url: _probe(http, url), unique))
    finally:
        if own_client:
            http.close()
    out: list[Finding] = []
    for url, problem in zip(unique, problems, strict=True):
        if problem:
            out.append(
                Finding("error", "link-unreachable", f"{url} {problem}", where.file, where.line_of_url(url))
            )
    return out


def _probe(client: httpx.Client, url: str) -> str | None:
    """Why ``url`` does not answer, or None. HEAD first; GET when HEAD is refused or fails."""
    try:
        response = client.head(url, follow_redirects=True)
        if response.status_code < 400:
            return None
    except httpx.HTTPError:
        pass  # some servers drop HEAD: GET decides
    try:
        with client.stream("GET", url, follow_redirects=True) as response:
            if response.status_code < 400:
                return None
            return f"answers HTTP {response.status_code} — fix or remove the link"
    except httpx.TimeoutException:
        return "did not answer in time — check the address"
    except httpx.HTTPError as exc:
        return f"cannot be reached ({type(exc).__name__}) — check the address"
