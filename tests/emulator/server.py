"""The HTTP server: routing, faults around each request, and the control endpoints."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from tests.emulator import apis, search
from tests.emulator.state import Reply, State, inject_fault, json_reply


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real APIs
    disable_nagle_algorithm = True
    timeout = 60
    server: Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)

    # -- plumbing -------------------------------------------------------------
    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _drop(self) -> None:
        """Close at once with a reset, so the client sees a broken connection."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()

    def _provider_for(self, path: str) -> str | None:
        if path == "/email/batch":
            return "postmark"
        if path == "/v3/mail/send":
            return "sendgrid"
        if path == "/emails/batch":
            return "resend"
        if path == "/v3/smtp/email":
            return "brevo"
        if path == "/v2/email/outbound-emails":
            return "ses"
        if re.fullmatch(r"/v3/[^/]+/messages", path):
            return "mailgun"
        return None

    # -- requests -------------------------------------------------------------
    def do_GET(self) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        if path == "/_emulator/accepted":
            with state.lock:
                data: Any = [list(a) for a in state.accepted]
            self._send(json_reply(200, data))
        elif path == "/_emulator/faults":
            with state.lock:
                data = [
                    {"fault": f.name, "provider": f.provider, "remaining": f.remaining} for f in state.faults
                ]
            self._send(json_reply(200, data))
        elif path == "/_emulator/counts":
            with state.lock:
                data = {"by_provider": dict(state.counts)}
            self._send(json_reply(200, data))
        elif (provider := search.provider_of(path)) is not None:
            host, port = self.server.server_address[:2]
            reply = search.answer(state, provider, self.headers, self.path, f"http://{host!s}:{port}")
            with contextlib.suppress(OSError):
                self._send(reply)
        else:
            self._send(json_reply(404, {"message": f"emulator: no GET {path}"}))

    def do_POST(self) -> None:
        state = self.server.state
        state.request.arrived = time.time()
        path = urlsplit(self.path).path
        if path.startswith("/_emulator/"):
            self._control(path, self._read_body())
            return
        provider = self._provider_for(path)
        if provider is None:
            self._read_body()
            self._send(json_reply(404, {"message": f"emulator: no provider endpoint at POST {path}"}))
            return
        fault = state.take_fault(provider)
        if fault and fault.name == "drop_before":
            self._drop()
            return
        body = self._read_body()
        if fault and fault.name == "rate_limit":
            seconds = str(fault.params.get("retry_after", 1))
            self._send(
                json_reply(
                    429,
                    {"message": "Too many requests", "name": "rate_limit_exceeded"},
                    {"Retry-After": seconds, "ratelimit-reset": seconds},
                )
            )
            return
        if fault and fault.name == "huge_retry_after":
            # A proxy's idea of a wait: seconds beyond any calendar, a reset in epoch milliseconds.
            reset_ms = int(fault.params.get("reset_ms", (time.time() + 1) * 1000))
            self._send(
                json_reply(
                    429,
                    {"message": "Too many requests", "name": "rate_limit_exceeded"},
                    {
                        "Retry-After": str(fault.params.get("retry_after", "99999999999999")),
                        "X-RateLimit-Reset": str(reset_ms),
                    },
                )
            )
            return
        if fault and fault.name == "server_error":
            status = int(fault.params.get("status", 500))
            self._send(json_reply(status, {"message": f"emulated {status}"}))
            return
        endpoint = apis.ENDPOINTS[provider]
        reply = endpoint(state, self.headers, path, body, fault)
        if fault and fault.name == "slow":
            time.sleep(float(fault.params.get("seconds", 2.0)))
        if fault and fault.name == "drop_after":
            self._drop()
            return
        if fault and fault.name == "processed_then_error" and reply.status < 300:
            # A gateway in front of a provider that took the batch: its own 502/504 page.
            status = int(fault.params.get("status", 502))
            reply = Reply(
                status, f"<html><h1>{status} Bad Gateway</h1></html>".encode(), {"Content-Type": "text/html"}
            )
        if fault and fault.name == "unreadable_ok" and reply.status < 300:
            reply = apis.garble(provider, reply, str(fault.params.get("shape", "ok_strings")))
        with contextlib.suppress(OSError):  # a client that timed out has gone
            self._send(reply)

    def _control(self, path: str, body: bytes) -> None:
        state = self.server.state
        data = json.loads(body or b"{}")
        if path == "/_emulator/faults":
            inject_fault(
                state, data["fault"], data.get("provider"), int(data.get("times", 1)), data.get("params", {})
            )
        elif path == "/_emulator/log":
            state.log_delay = float(data.get("delay", 0.0))
        elif path == "/_emulator/reset":
            state.reset()
        elif path == "/_emulator/addresses":
            with state.lock:
                state.inactive_addresses.update(a.lower() for a in data.get("inactive", []))
                state.invalid_addresses.update(a.lower() for a in data.get("invalid", []))
        else:
            self._send(json_reply(404, {"message": f"emulator: no POST {path}"}))
            return
        self._send(json_reply(200, {"ok": True}))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: State) -> None:
        self.state = state
        super().__init__(address, Handler)
