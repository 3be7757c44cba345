"""The Starlette application: routes from each concern, middleware, and error pages.

:func:`create_app` wires one :class:`WebContext` (settings, engine, signer,
limiters, page templates, provider) into ``app.state.web``; route modules
read it from there. Nothing here knows about a particular page.

No exception detail ever reaches a visitor: unexpected errors are logged
with their traceback and answered with a plain 500 page.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from anyio import CapacityLimiter, to_thread
from jinja2 import Environment, select_autoescape
from sqlalchemy import Connection, Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter.config import Settings
from newsletter.providers.base import Provider
from newsletter.store.db import open_engine
from newsletter.template_sources import WEB_PAGES, template_loader
from newsletter.tokens import Signer, secret_key
from newsletter.web.i18n import LANGUAGES, other_language, pick_language, translator
from newsletter.web.security import (
    SECURITY_HEADERS,
    BodyLimit,
    CsrfGuard,
    RateLimiter,
    SecurityHeaders,
    client_key,
    local_link,
)

log = logging.getLogger("newsletter.web")
T = TypeVar("T")


@dataclass(frozen=True)
class RateLimits:
    """Sign-up attempts allowed per client IP and per address (sliding windows, in the database)."""

    per_ip: int = 20
    per_ip_window_seconds: float = 600.0
    per_address: int = 3
    per_address_window_seconds: float = 3600.0


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


def _page_environment(settings: Settings) -> Environment:
    return Environment(
        loader=template_loader(settings.templates_dir, WEB_PAGES),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(
    settings: Settings,
    *,
    provider: Provider | None = None,
    rate_limits: RateLimits | None = None,
    engine: Engine | None = None,
) -> Starlette:
    """The web service for ``settings``. Raises ConfigError without NEWSLETTER_SECRET_KEY."""
    from newsletter.providers.registry import make_provider
    from newsletter.web import archive, pages, unsubscribe, webhooks

    key = secret_key()
    limits = rate_limits or RateLimits()
    context = WebContext(
        settings=settings,
        engine=engine or open_engine(settings.database_url),
        signer=Signer(key),
        csrf=CsrfGuard(key),
        pages=_page_environment(settings),
        ip_limiter=RateLimiter("sign-up-ip", limits.per_ip, limits.per_ip_window_seconds),
        address_limiter=RateLimiter("sign-up-address", limits.per_address, limits.per_address_window_seconds),
        provider_factory=lambda: make_provider(settings.provider),
        _provider=provider,
    )
    routes = [*pages.routes, *unsubscribe.routes, *webhooks.routes, *archive.routes]
    middleware = [Middleware(SecurityHeaders), Middleware(BodyLimit)]
    if settings.serve.trusted_proxies:
        # X-Forwarded-For/-Proto believed only from the proxies named in [serve] trusted_proxies;
        # the client is the right-most address in the chain that is not one of them. `serve` turns
        # uvicorn's own handling off, so this is the only place the rule lives.
        middleware.insert(
            0, Middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.serve.trusted_proxies))
        )
    app = Starlette(
        debug=False,
        routes=routes,
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    # Starlette would answer "/feed.xml/" with a redirect to an absolute URL built from the Host
    # header — a hostile Host would make it point at another site. A trailing slash is a 404.
    app.router.redirect_slashes = False
    app.state.web = context
    return app


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    context = web(request)
    lang = context.language(request)
    if exc.status_code == 404:
        return context.page(
            request, "message.html", lang, 404, heading_key="not_found_heading", body_key="not_found_body"
        )
    return Response(f"{exc.status_code} {exc.detail}\n", status_code=exc.status_code, media_type="text/plain")


async def _server_error(request: Request, exc: Exception) -> Response:
    # The route's pattern ("/u/{token}"), not the path: a personal link's token must not reach the log.
    route = getattr(request.scope.get("route"), "path", "(no route)")
    log.error("unhandled error on %s %s", request.method, route, exc_info=exc)
    try:
        context = web(request)
        lang = context.language(request)
        response: Response = context.page(
            request, "message.html", lang, 500, heading_key="error_heading", body_key="error_body"
        )
    except Exception:  # the error page itself failed: fall back to plain text
        log.exception("the error page could not be rendered")
        response = Response("500 Internal Server Error\n", status_code=500, media_type="text/plain")
    # Starlette answers this outside the middleware stack: add the headers here.
    for name, value in SECURITY_HEADERS:
        response.headers[name.decode()] = value.decode()
    response.headers["cache-control"] = "no-store"
    return response


__all__ = ["LANGUAGES", "RateLimits", "WebContext", "create_app", "in_thread", "web"]
