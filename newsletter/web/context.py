"""What every route of the web service shares: :class:`WebContext`, read from ``app.state.web``.

:func:`newsletter.web.app.create_app` builds one context (settings, engine,
signer, limiters, page templates, provider) and the route modules
(:mod:`.pages`, :mod:`.unsubscribe`, :mod:`.webhooks`, :mod:`.archive`) get it
with :func:`web`. It lives below both, so the app can import its routes at the
top and the routes never import the app.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from anyio import CapacityLimiter, to_thread
from jinja2 import Environment
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from newsletter.config import Settings
from newsletter.providers.base import Provider
from newsletter.tokens import Signer
from newsletter.web.i18n import other_language, pick_language, translator
from newsletter.web.security import CsrfGuard, RateLimiter, client_key, local_link

T = TypeVar("T")


@dataclass
class WebContext:
    settings: Settings
    engine: Engine
    signer: Signer
    csrf: CsrfGuard
    pages: Environment
    ip_limiter: RateLimiter
    address_limiter: RateLimiter
    provider_factory: Callable[[], Provider]
    # SQLite allows one writer: serialising writes here avoids busy-waiting between threads.
    write_lock: Any = field(default_factory=threading.Lock)
    render_cache: dict[str, Any] = field(default_factory=dict)
    _provider: Provider | None = None
    _writer: tuple[asyncio.AbstractEventLoop, CapacityLimiter] | None = None

    @property
    def provider(self) -> Provider:
        if self._provider is None:
            self._provider = self.provider_factory()
        return self._provider

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction (committed on success, rolled back on error)."""
        lock = self.write_lock if self.engine.dialect.name == "sqlite" else nullcontext()
        with lock, self.engine.begin() as conn:
            yield conn

    async def in_writer(self, function: Callable[..., T], *args: Any) -> T:
        """Run a write transaction off the event loop.

        On SQLite (one writer at a time) the writes queue here, in the event loop, for a
        single worker thread: dozens of threads blocked on one lock cost far more CPU in
        wake-ups and GIL hand-offs than the transactions themselves. On PostgreSQL they
        share the ordinary thread pool.
        """
        if self.engine.dialect.name != "sqlite":
            return await run_in_threadpool(function, *args)
        loop = asyncio.get_running_loop()
        if self._writer is None or self._writer[0] is not loop:  # one limiter per event loop
            self._writer = (loop, CapacityLimiter(1))
        return await to_thread.run_sync(function, *args, limiter=self._writer[1])

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def sign_up_allowed(self, ip: str, address_hash: str) -> bool:
        """Count a sign-up attempt from ``ip`` for an address; False when either limit is reached."""
        with self.write() as conn:
            return self.ip_limiter.hit(conn, client_key(ip)) and self.address_limiter.hit(conn, address_hash)

    def language(self, request: Request, *fallbacks: str | None) -> str:
        return pick_language(request.query_params.get("lang"), *fallbacks, default=self.settings.language)

    def page(
        self, request: Request, template: str, lang: str, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        """A page from templates/web in ``lang``, with the language switch pointing at this URL."""
        switch_to = other_language(lang)
        query = {k: v for k, v in request.query_params.items() if k != "lang"}
        query["lang"] = switch_to
        # The path as the server saw it, never request.url (built from the Host header).
        switch_url = local_link(request.scope["path"]) + "?" + urlencode(query)
        html = self.pages.get_template(template).render(
            t=translator(lang),
            lang=lang,
            switch_url=switch_url,
            organisation=self.settings.organisation,
            **values,
        )
        return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def web(request: Request) -> WebContext:
    context: WebContext = request.app.state.web
    return context


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run blocking work (database, provider, rendering) off the event loop."""
    return await run_in_threadpool(function, *args)
