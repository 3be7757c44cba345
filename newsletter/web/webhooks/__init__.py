"""``POST /webhooks/PROVIDER``: verify, translate into the project's events, record once.

Each provider class names its receiver in ``webhook`` (a
:class:`newsletter.providers.webhook.WebhookReceiver`: ``required_env``,
``verify(headers, body, tolerance_seconds) -> Verified`` — raises
:class:`WebhookRefused`, also for a signed timestamp outside the tolerance —
and ``parse(headers, body) -> list[Event]``); a name whose provider has none
answers 404. An endpoint whose secret is not in
the environment is disabled: it answers 404 and logs why. A refused request
stores nothing. A one-time token a verifier reports is claimed in the database
in the transaction that stores the events: its second use is refused (403).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from newsletter.providers import registry
from newsletter.providers.webhook import Verified, WebhookPayloadError, WebhookReceiver, WebhookRefused
from newsletter.secrets import get_secret
from newsletter.store.events import Event, RecordResult, claim_token, record_events
from newsletter.web.context import WebContext, web

log = logging.getLogger("newsletter.web.webhooks")


def receivers() -> dict[str, WebhookReceiver]:
    """The webhook receiver of every registered provider that has one, by provider name."""
    return {name: cls.webhook for name, cls in registry.registered().items() if cls.webhook is not None}


def missing_secrets(receiver: WebhookReceiver) -> list[str]:
    return [name for name in receiver.required_env if not get_secret(name)]


def _refused(name: str, exc: WebhookRefused) -> Response:
    log.warning("webhook /webhooks/%s refused (%s): %s", name, exc.status, exc.reason)
    return PlainTextResponse("Unauthorized\n" if exc.status == 401 else "Forbidden\n", status_code=exc.status)


def _store(
    context: WebContext, name: str, verified: Verified, body: bytes, events: list[Event]
) -> RecordResult:
    """Claim the request's one-time token (if any) and record its events, in one transaction."""
    with context.write() as conn:
        if verified.once is not None and verified.signed_at is not None:
            window = timedelta(seconds=context.settings.webhook_tolerance_seconds)
            if not claim_token(conn, name, verified.once, verified.signed_at, window, body):
                raise WebhookRefused(403, "signature token was already used with another body")
        return record_events(conn, events)


async def receive(request: Request) -> Response:
    name = request.path_params["provider"]
    receiver = receivers().get(name)
    if receiver is None:
        return PlainTextResponse("Not Found\n", status_code=404)
    missing = missing_secrets(receiver)
    if missing:
        log.warning("webhook /webhooks/%s refused: disabled until %s is set", name, " and ".join(missing))
        return PlainTextResponse("Not Found\n", status_code=404)
    body = await request.body()
    context = web(request)
    try:
        # Off the event loop: a verifier may fetch a signing certificate (SES's SNS) the first time.
        verified = await run_in_threadpool(
            receiver.verify, request.headers, body, context.settings.webhook_tolerance_seconds
        )
    except WebhookRefused as exc:
        return _refused(name, exc)
    try:
        events = receiver.parse(request.headers, body)
    except WebhookPayloadError as exc:
        log.warning("webhook /webhooks/%s: unreadable payload: %s", name, exc)
        return PlainTextResponse(f"Bad Request: {exc}\n", status_code=400)
    try:
        result = await context.in_writer(_store, context, name, verified, body, events)
    except WebhookRefused as exc:
        return _refused(name, exc)
    for effect in result.effects:
        log.info("webhook %s: %s", name, effect)
    return JSONResponse({"stored": result.stored, "replayed": result.replayed})


routes = [Route("/webhooks/{provider}", receive, methods=["POST"])]
