"""The Starlette application: routes from each concern, middleware, and error pages.

:func:`create_app` wires one :class:`~newsletter.web.context.WebContext`
(settings, engine, signer, limiters, page templates, provider) into
``app.state.web``; route modules read it from there. Nothing here knows about
a particular page.

No exception detail ever reaches a visitor: unexpected errors are logged
with their traceback and answered with a plain 500 page.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from jinja2 import Environment, select_autoescape
from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from newsletter.config import Settings
from newsletter.providers.base import Provider
from newsletter.providers.registry import make_provider
from newsletter.store.db import open_engine
from newsletter.template_sources import WEB_PAGES, template_loader
from newsletter.tokens import Signer, secret_key
from newsletter.web import admin, archive, clicks, pages, unsubscribe, webhooks
from newsletter.web.admin import AdminState
from newsletter.web.admin.guard import not_found as admin_not_found
from newsletter.web.context import WebContext, in_thread, web
from newsletter.web.security import (
    BodyLimit,
    CsrfGuard,
    RateLimiter,
    SecurityHeaders,
    is_admin_path,
    security_headers,
)

log = logging.getLogger("newsletter.web")


@dataclass(frozen=True)
class RateLimits:
    """Sign-up attempts allowed per client IP and per address (sliding windows, in the database)."""

    per_ip: int = 20
    per_ip_window_seconds: float = 600.0
    per_address: int = 3
    per_address_window_seconds: float = 3600.0


def _page_environment(settings: Settings) -> Environment:
    return Environment(
        loader=template_loader(settings.templates_dir, WEB_PAGES),
        autoescape=select_autoescape(["html", "xml"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


PUBLIC = "public"
WORKSPACE = "workspace"


def default_parts(settings: Settings) -> tuple[str, ...]:
    """What one listener serves: the public pages, and the workspace unless it is off or listens apart."""
    if settings.admin.enabled and settings.admin.port is None:
        return (PUBLIC, WORKSPACE)
    return (PUBLIC,)


def create_app(
    settings: Settings,
    *,
    provider: Provider | None = None,
    rate_limits: RateLimits | None = None,
    engine: Engine | None = None,
    parts: tuple[str, ...] | None = None,
) -> Starlette:
    """The web service for ``settings``. Raises ConfigError without NEWSLETTER_SECRET_KEY.

    ``parts`` says what this app serves: :data:`PUBLIC` (sign-up, unsubscribe,
    webhooks, archive) and/or :data:`WORKSPACE` (/admin); by default
    :func:`default_parts`. ``newsletter serve`` runs a second app with the
    workspace alone when ``[admin] port`` is set.
    """
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
    parts = default_parts(settings) if parts is None else parts
    routes = []
    if PUBLIC in parts:
        routes += [*pages.routes, *unsubscribe.routes, *webhooks.routes, *archive.routes, *clicks.routes]
    if WORKSPACE in parts:
        routes += admin.routes
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
        lifespan=_lifespan,
    )
    # Starlette would answer "/feed.xml/" with a redirect to an absolute URL built from the Host
    # header — a hostile Host would make it point at another site. A trailing slash is a 404.
    app.router.redirect_slashes = False
    app.state.web = context
    app.state.admin = AdminState.for_context(context)
    return app


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    yield
    # Sends started from the workspace stop after recording their batches in flight (a resume
    # picks up the rest); without this, a restart would leave those batches to be settled.
    await in_thread(app.state.admin.runs.stop_all)
    # Imports stop after their commit in flight (importing the file again finishes them); uploads go.
    await in_thread(app.state.admin.imports.close)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404 and is_admin_path(request.scope["path"]):
        return await admin_not_found(request)
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
    for name, value in security_headers(request.scope["path"]):
        response.headers[name.decode()] = value.decode()
    response.headers["cache-control"] = "no-store"
    return response


__all__ = ["RateLimits", "create_app"]
