"""``--online``: does every link and image answer? HEAD first, GET when HEAD is refused, concurrently."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx

from newsletter.checks.core import Finding, SourceMap
from newsletter.checks.texts import CHECK_TEXTS
from newsletter.wording import Wording

ONLINE_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
ONLINE_WORKERS = 8
# How the operating system words a failed name lookup, or no network at all, in a connect error.
# Offline, every lookup fails with one of these; online, only a mistyped or dead name does.
_LOOKUP_FAILED = (
    "name or service not known",
    "nodename nor servname",
    "no address associated",
    "getaddrinfo failed",
    "temporary failure in name resolution",
    "network is unreachable",
    "no route to host",
)
# The probe's answer when a name could not be looked up.
_LOOKUP = "name-not-found"


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
    hosts = {urlparse(url).hostname for url in unique}
    if len(hosts) > 1 and all(problem is not None and problem.code == _LOOKUP for problem in problems):
        # No name on several sites could be looked up: the links were not checked, not found broken.
        return [Finding.worded("error", CHECK_TEXTS("links-not-checked", count=len(unique)), where.file)]
    for url, problem in zip(unique, problems, strict=True):
        if problem:
            unreachable = CHECK_TEXTS("link-unreachable", url=url, problem=problem)
            out.append(Finding.worded("error", unreachable, where.file, where.line_of_url(url)))
    return out


def _probe(client: httpx.Client, url: str) -> Wording | None:
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
            return CHECK_TEXTS("answers-error", status=response.status_code)
    except httpx.TimeoutException:
        return CHECK_TEXTS("answer-too-slow")
    except httpx.ConnectError as exc:
        return _connect_problem(url, str(exc).lower())
    except httpx.HTTPError as exc:
        return CHECK_TEXTS("cannot-be-reached", error=type(exc).__name__)


def _connect_problem(url: str, detail: str) -> Wording:
    host = urlparse(url).hostname or url
    if any(words in detail for words in _LOOKUP_FAILED):
        return CHECK_TEXTS(_LOOKUP, host=host)
    if "refused" in detail:
        return CHECK_TEXTS("connection-refused", host=host)
    return CHECK_TEXTS("cannot-be-reached", error="ConnectError")
