"""``--online``: does every link and image answer? HEAD first, GET when HEAD is refused, concurrently."""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import httpx

from newsletter.checks.core import Finding, SourceMap

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


class _Unreachable(str):
    """A probe's answer when the connection itself failed; ``lookup`` when the name could not be looked up."""

    lookup: bool = False


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
    if len(hosts) > 1 and all(isinstance(problem, _Unreachable) and problem.lookup for problem in problems):
        # No name on several sites could be looked up: the links were not checked, not found broken.
        return [
            Finding(
                "error",
                "links-not-checked",
                f"the {len(unique)} link(s) could not be checked: this machine seems to be offline "
                "(no name could be looked up) — connect it to the internet and run check --online again",
                where.file,
            )
        ]
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
    except httpx.ConnectError as exc:
        return _connect_problem(url, str(exc).lower())
    except httpx.HTTPError as exc:
        return f"cannot be reached ({type(exc).__name__}) — check the address"


def _connect_problem(url: str, detail: str) -> str:
    host = urlparse(url).hostname or url
    if any(words in detail for words in _LOOKUP_FAILED):
        problem = _Unreachable(
            f"points at {host}, a name that could not be looked up — check the address "
            "(or whether this machine is online)"
        )
        problem.lookup = True
        return problem
    if "refused" in detail:
        return _Unreachable(
            f"is on {host}, which refused the connection — check the address, or try again later"
        )
    return _Unreachable("cannot be reached (ConnectError) — check the address")
