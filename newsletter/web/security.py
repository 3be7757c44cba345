"""What keeps the public service safe: headers, body limits, CSRF and rate limits.

- :class:`SecurityHeaders` adds CSP, nosniff, Referrer-Policy and frame
  denial to every answer, and ``Cache-Control: no-store`` to any answer
  that does not say itself how it may be cached. Everything under
  ``/admin`` (the workspace) gets the stricter :data:`ADMIN_CSP`: scripts
  and styles only from the service's own files, nothing inline.
- :class:`BodyLimit` refuses bodies larger than the route allows with 413
  before the application reads them (64 KB for forms, 1 MB for webhooks;
  the workspace's editor 3 MB, its image upload 10 MB and a little).
- :class:`CsrfGuard` is a double-submit cookie whose form value is an HMAC
  of the cookie: a value planted in a cookie by someone else is useless
  without the server's secret.
- :class:`RateLimiter` counts hits per key in the database, so every
  ``serve`` instance on one database shares the same limit.
- :func:`local_link` turns the request's path into a link that cannot leave
  the service (``//evil.example/x`` would be another site to a browser).

Only the sign-up form is rate-limited. The one-click unsubscribe and the
confirmation and preference links carry a signed token that is the
authority, and a mailbox provider posts one-click unsubscribes for many
people from few addresses: limiting them per IP would drop legally required
unsubscribes. Webhooks are signed by the provider and arrive in bursts from
its few addresses, so they are not limited either.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets
import time
from collections.abc import Callable
from urllib.parse import quote

from sqlalchemy import ColumnElement, Connection, Insert, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from newsletter.assets import MAX_UPLOAD_BYTES
from newsletter.store.schema import rate_limits

CSP = (
    "default-src 'self'; img-src 'self' https: data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'none'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The workspace (/admin) has no inline script or style at all, so it can forbid both.
ADMIN_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)
ADMIN_PREFIX = "/admin"
_COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CSP.encode()),
    *_COMMON_HEADERS,
)
ADMIN_SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", ADMIN_CSP.encode()),
    *_COMMON_HEADERS,
)


def is_admin_path(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


def security_headers(path: str) -> tuple[tuple[bytes, bytes], ...]:
    """The headers every answer for ``path`` carries: the workspace's stricter CSP under /admin."""
    return ADMIN_SECURITY_HEADERS if is_admin_path(path) else SECURITY_HEADERS


FORM_BODY_LIMIT = 64 * 1024
WEBHOOK_BODY_LIMIT = 1024 * 1024
# The workspace's editor posts a whole issue (URL-encoded, so Danish letters count six times),
# and its image upload one image file (MAX_UPLOAD_BYTES) with the form around it.
EDITOR_PATH = "/admin/issues/"
EDITOR_BODY_LIMIT = 3 * 1024 * 1024
UPLOAD_PATH_END = "/images"
UPLOAD_BODY_LIMIT = MAX_UPLOAD_BYTES + 64 * 1024
# A subscriber file uploaded for an import (/admin/lists/NAME/import): 100,000 people fit easily.
IMPORT_PATH = re.compile(r"/admin/lists/[^/]+/import")
IMPORT_FILE_LIMIT = 20 * 1024 * 1024
IMPORT_BODY_LIMIT = IMPORT_FILE_LIMIT + 64 * 1024


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                wanted = security_headers(scope.get("path", ""))
                extra = [(name, value) for name, value in wanted if name not in present]
                if b"cache-control" not in present:
                    # Only what a route declares cacheable (the archive) may be kept by a cache:
                    # error pages and webhook answers can echo a personal link's path.
                    extra.append((b"cache-control", b"no-store"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def body_limit_for(path: str) -> int:
    if path.startswith("/webhooks/"):
        return WEBHOOK_BODY_LIMIT
    if path.startswith(EDITOR_PATH):
        return UPLOAD_BODY_LIMIT if path.endswith(UPLOAD_PATH_END) else EDITOR_BODY_LIMIT
    if IMPORT_PATH.fullmatch(path):
        return IMPORT_BODY_LIMIT
    return FORM_BODY_LIMIT


class BodyLimit:
    """ASGI middleware: 413 for a body over the route's limit, checked before the app runs.

    The body is read here (bounded) and replayed to the application, so a
    client that lies in Content-Length or streams without one is caught too.
    """

    def __init__(self, app: ASGIApp, limit_for: Callable[[str], int] = body_limit_for) -> None:
        self.app = app
        self.limit_for = limit_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit, scope["path"])
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await _too_large(send, limit, scope["path"])
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int, path: str) -> None:
    text = f"Request body too large: the limit here is {limit // 1024} KB.\n".encode()
    if IMPORT_PATH.fullmatch(path):  # the workspace's file upload: said to its users, in both languages
        mb = IMPORT_FILE_LIMIT // (1024 * 1024)
        text = (
            f"Filen er større end {mb} MB, og intet er gemt. Gå tilbage, og vælg en mindre fil.\n"
            f"The file is larger than {mb} MB, and nothing was saved. Go back and choose a smaller file.\n"
        ).encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(text)).encode())]
    headers.extend(security_headers(path))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": text})


CSRF_COOKIE = "nl_csrf"
CSRF_FIELD = "csrf_token"


class CsrfGuard:
    """Double-submit CSRF: a random cookie, and the form carries HMAC(secret, cookie)."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(("newsletter.csrf.v1:" + secret).encode()).digest()

    @staticmethod
    def new_cookie_value() -> str:
        return secrets.token_urlsafe(24)

    def form_value(self, cookie_value: str) -> str:
        return hmac.new(self._key, cookie_value.encode(), hashlib.sha256).hexdigest()

    def is_valid(self, cookie_value: str | None, submitted: str | None) -> bool:
        if not cookie_value or not submitted:
            return False
        return hmac.compare_digest(self.form_value(cookie_value), submitted)


class RateLimiter:
    """At most ``limit`` hits per key in any ``window_seconds``, counted in the database.

    Two fixed windows per key (the current and the previous one), the previous
    one weighted by how much of it still overlaps the last ``window_seconds``:
    a sliding window to within a few percent, at the cost of one upsert. The
    upsert only counts a hit while under the limit, atomically, on SQLite and
    PostgreSQL alike, so concurrent instances cannot together exceed it.
    Keys are stored hashed (an IP address is personal data); rows whose window
    can no longer count are deleted now and then.
    """

    PRUNE_EVERY_SECONDS = 60.0

    def __init__(
        self, name: str, limit: int, window_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self.name = name
        self.limit = limit
        self.window = window_seconds
        self.clock = clock  # wall-clock time: instances on different machines must agree
        self._next_prune = 0.0

    def _bucket(self, key: str) -> str:
        return hashlib.sha256(f"newsletter.rate.v1:{self.name}:{key}".encode()).hexdigest()

    def hit(self, conn: Connection, key: str) -> bool:
        """Count a hit for ``key``; False when it is over the limit (the hit is not counted)."""
        now = self.clock()
        window_no = math.floor(now / self.window)
        still_counting = 1.0 - (now / self.window - window_no)  # share of the previous window
        bucket = self._bucket(key)
        if now >= self._next_prune:
            self._next_prune = now + self.PRUNE_EVERY_SECONDS
            conn.execute(delete(rate_limits).where(rate_limits.c.expires_at < int(now)))
        previous = conn.execute(
            select(rate_limits.c.hits).where(
                rate_limits.c.bucket == bucket, rate_limits.c.window_no == window_no - 1
            )
        ).scalar_one_or_none()
        # Rounded up: a hit of the previous window counts whole until its share is gone, so no
        # run of requests across a window boundary ever gets more than ``limit`` through.
        allowed_now = self.limit - math.ceil((previous or 0) * still_counting)
        if allowed_now <= 0:
            return False
        values = {
            "bucket": bucket,
            "window_no": window_no,
            "hits": 1,
            "expires_at": math.ceil((window_no + 2) * self.window),
        }
        counted = conn.execute(
            _upsert(conn, values, where=rate_limits.c.hits < allowed_now).returning(rate_limits.c.hits)
        ).first()
        return counted is not None


def client_key(ip: str) -> str:
    """The rate-limit key for a client address: an IPv6 client counts as its whole /64.

    One IPv6 customer is usually given a /64 (2^64 addresses); counting each
    address alone would let one visitor rotate through them past any limit.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def _upsert(conn: Connection, values: dict[str, object], *, where: ColumnElement[bool]) -> Insert:
    """INSERT … ON CONFLICT (bucket, window_no) DO UPDATE SET hits = hits + 1 WHERE ``where``."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(rate_limits).values(values)
    return statement.on_conflict_do_update(
        index_elements=[rate_limits.c.bucket, rate_limits.c.window_no],
        set_={"hits": rate_limits.c.hits + 1},
        where=where,
    )


# Characters that keep their meaning in a path; everything else (``?``, ``#``, ``\``, spaces,
# quotes) is percent-encoded so a decoded path cannot change what the link points at.
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


def local_link(path: str) -> str:
    """A link to ``path`` on this service: one leading ``/``, never ``//host`` or ``/\\host``.

    A request for ``//evil.example/x`` has that as its path; written into a
    page as is, a browser would read it as a link to another site.
    """
    return "/" + quote(path, safe=_PATH_SAFE).lstrip("/")
