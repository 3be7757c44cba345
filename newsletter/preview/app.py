"""The preview web app: the page, the email, its state, and a Server-Sent Events stream.

Routes (all local, 127.0.0.1 only):

- ``GET /``               the page: 600 px and 375 px frames, text part, inbox line, checks
- ``GET /email.html``     the merged email, local images pointed at ``/assets/…``
- ``GET /state.json``     the current :class:`~newsletter.preview.snapshot.Snapshot` (no HTML)
- ``GET /events``         SSE: an ``event: render`` with the new version after each rebuild
- ``GET /assets/{n}``     the n-th local image of the issue

A watcher task (watchfiles) rebuilds when the issue, its image folder, a
template or the settings file changes, then wakes every SSE stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import watchfiles
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from newsletter.assets import AssetProblem, media_type, read_image
from newsletter.preview.page import PAGE
from newsletter.preview.snapshot import Builder, Snapshot, with_local_images
from newsletter.template_sources import template_folders

log = logging.getLogger(__name__)

# watchfiles waits this long for a burst of writes to settle (an editor's save is
# several events); its default of 1.6 s would blow the 500 ms save-to-preview target.
DEBOUNCE_MS = 30
STEP_MS = 10
HEARTBEAT_SECONDS = 15.0


class PreviewState:
    """The builder, the latest snapshot and a condition the SSE streams wait on."""

    def __init__(self, builder: Builder, on_build: Callable[[Snapshot], None] | None = None) -> None:
        self.builder = builder
        self.on_build = on_build
        self.changed = asyncio.Condition()
        self.stopping = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def snapshot(self) -> Snapshot:
        return self.builder.snapshot

    async def rebuild(self, *, reload_settings: bool = False) -> Snapshot:
        async with self._lock:  # one build at a time; a burst of saves queues up
            snapshot = await asyncio.to_thread(self.builder.build, reload_settings=reload_settings)
            if self.on_build is not None:
                self.on_build(snapshot)
        async with self.changed:
            self.changed.notify_all()
        return snapshot

    async def stop(self) -> None:
        """End the watcher and every SSE stream (the server calls this before it shuts down)."""
        self.stopping.set()
        async with self.changed:
            self.changed.notify_all()

    async def watch(self) -> None:
        builder = self.builder
        settings = builder.settings
        # Both template folders: a developer editing a built-in (editable install) sees it too.
        template_trees = {folder.resolve() for folder in template_folders(settings.templates_dir)}
        tree = {builder.issue_path.resolve().parent, *template_trees}
        roots = [p for p in tree if p.is_dir()]
        settings_dir = settings.path.resolve().parent if settings.path else None
        watchers = [self._watch(roots, recursive=True)]
        if settings_dir is not None and settings_dir not in tree:
            # Non-recursive: the project folder holds the database, build/ and .venv.
            watchers.append(self._watch([settings_dir], recursive=False))
        await asyncio.gather(*watchers)

    async def _watch(self, paths: list[Path], *, recursive: bool) -> None:
        if not paths:
            return
        async for changes in watchfiles.awatch(
            *paths,
            watch_filter=lambda _change, path: self.builder.is_watched(Path(path)),
            debounce=DEBOUNCE_MS,
            step=STEP_MS,
            stop_event=self.stopping,
            recursive=recursive,
        ):
            settings_path = self.builder.settings.path
            touched_settings = settings_path is not None and any(
                Path(path).resolve() == settings_path.resolve() for _change, path in changes
            )
            snapshot = await self.rebuild(reload_settings=touched_settings)
            log.info("rebuilt preview v%d (%s)", snapshot.version, snapshot.error or "ok")


def create_app(
    builder: Builder, *, watch: bool = True, on_build: Callable[[Snapshot], None] | None = None
) -> Starlette:
    """The preview app for ``builder``; ``watch=False`` rebuilds only on POST /rebuild (tests).

    ``on_build`` hears of every build (the command line prints a broken one's error)."""
    state_box: dict[str, PreviewState] = {}

    def state() -> PreviewState:
        return state_box["state"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        current = PreviewState(builder, on_build)
        state_box["state"] = current
        app.state.stop_streams = current.stop
        await current.rebuild()
        task = asyncio.create_task(current.watch()) if watch else None
        try:
            yield
        finally:
            await current.stop()
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):  # its end is no error
                    await task

    async def page(_request: Request) -> Response:
        return HTMLResponse(PAGE)

    async def email_html(_request: Request) -> Response:
        html = with_local_images(state().snapshot, lambda number, _path: f"/assets/{number}")
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    async def state_json(_request: Request) -> Response:
        return JSONResponse(state().snapshot.to_dict(), headers={"Cache-Control": "no-store"})

    async def asset(request: Request) -> Response:
        assets = state().snapshot.assets
        number = request.path_params["number"]
        if number >= len(assets):
            return Response("no such image", status_code=404)
        path = assets[number][1]
        try:
            data = await asyncio.to_thread(read_image, path)
        except AssetProblem as exc:
            return Response(f"{path.name}: {exc}", status_code=404, media_type="text/plain")
        return Response(data, media_type=media_type(path), headers={"Cache-Control": "no-store"})

    async def rebuild(_request: Request) -> Response:
        snapshot = await state().rebuild(reload_settings=True)
        return JSONResponse({"version": snapshot.version})

    async def events(request: Request) -> Response:
        current = state()

        async def stream() -> AsyncIterator[str]:
            seen = -1
            while not current.stopping.is_set():
                timed_out = False
                # Compare under the condition's lock: a rebuild that lands between the
                # comparison and the wait would otherwise go unnoticed until the heartbeat.
                async with current.changed:
                    if current.snapshot.version == seen:
                        try:
                            await asyncio.wait_for(current.changed.wait(), HEARTBEAT_SECONDS)
                        except TimeoutError:
                            timed_out = True
                    version = current.snapshot.version
                if version != seen:
                    seen = version
                    yield f"event: render\ndata: {json.dumps({'version': version})}\n\n"
                elif timed_out:
                    if await request.is_disconnected():
                        return
                    yield ": heartbeat\n\n"

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    return Starlette(
        routes=[
            Route("/", page),
            Route("/email.html", email_html),
            Route("/state.json", state_json),
            Route("/assets/{number:int}", asset),
            Route("/events", events),
            Route("/rebuild", rebuild, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
