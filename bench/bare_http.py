"""The web benchmark's peer: uvicorn, configured as ``newsletter serve`` configures it, answering 200.

A Starlette app with one route that reads the request's body and answers
``ok``: what a POST costs on this machine with the same server, protocol
and load generator but none of the project's work (no token check, no
signature, no database). ``python -m bench.bare_http PORT`` runs it;
:func:`bare_server` starts it as a process of its own, as the project's
server runs, and stops it again.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.web.serving import free_port

ROOT = Path(__file__).resolve().parent.parent


async def answer(request: Request) -> PlainTextResponse:
    await request.body()
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/{path:path}", answer, methods=["GET", "POST"])])


@contextmanager
def bare_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """The bare server's base URL and process, once it answers; stopped on exit."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_http", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the bare server exited with {process.returncode}")
            try:
                httpx.get(url + "/", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the bare server did not answer within 30 s") from None
                time.sleep(0.1)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=False,
        log_level="warning",
        server_header=False,
        proxy_headers=False,
    )
