"""Shared state of the emulator: what it accepted, the faults queued, the addresses it refuses."""

from __future__ import annotations

import itertools
import json
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, NamedTuple

PROVIDERS = ("postmark", "sendgrid", "mailgun", "resend", "brevo", "ses")
FAULTS = (
    "rate_limit",
    "server_error",
    "slow",
    "drop_before",
    "drop_after",
    "message_error",
    "idempotency_conflict",
    "processed_then_error",
    "unreadable_ok",
    "huge_retry_after",
    "search_error",
)
# How ``unreadable_ok`` garbles a success (see tests.emulator).
UNREADABLE_SHAPES = ("ok_strings", "not_json", "truncated", "wrong_length", "missing_ids")
RECORD_MODES = ("all", "accepted", "counts")
LIMITS = {"postmark": 500, "sendgrid": 1000, "mailgun": 1000, "resend": 100, "brevo": 1, "ses": 1}

VALID_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
)
_ANGLE = re.compile(r"<([^<>]*)>\s*$")
# Tag names and values at Resend and SES.
RESEND_TAG = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
SENDGRID_RESERVED_HEADERS = {
    "x-sg-id",
    "x-sg-eid",
    "received",
    "dkim-signature",
    "content-type",
    "content-transfer-encoding",
    "to",
    "from",
    "subject",
    "reply-to",
    "cc",
    "bcc",
}


class Accepted(NamedTuple):
    provider: str
    email: str
    message_id: str
    idempotency_key: str | None
    at: float = 0.0  # when it was accepted (time.time()), after the body was read and checked
    arrived: float = 0.0  # when its request reached the emulator: what a provider's rate limit counts


class LoggedMessage(NamedTuple):
    """An accepted message as the provider's searchable log keeps it (Postmark search, Mailgun events, …)."""

    provider: str
    email: str
    message_id: str
    metadata: dict[str, str]  # Postmark Metadata, SendGrid custom_args, Mailgun user-variables
    tag: str
    at: float  # time.time() when it was accepted


class RecordedRequest(NamedTuple):
    provider: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the form as a list of (name, value)


@dataclass
class Fault:
    name: str
    provider: str | None
    remaining: int
    params: dict[str, Any]
    seen: int = 0  # matching requests so far (``every``: only every n-th one gets the fault)


def take_fault(faults: list[Fault], provider: str, *, search: bool = False) -> Fault | None:
    """The fault the next request to ``provider`` gets, used up from ``faults`` (hold their lock).

    Faults are tried in the order they were injected; one with ``every=N`` applies only to every
    N-th request it sees, so the others go on to the next fault in line. A log search takes only
    ``search_error`` faults, a send every other kind."""
    for fault in faults:
        if fault.provider in (None, provider) and (fault.name == "search_error") == search:
            fault.seen += 1
            if fault.seen % max(1, int(fault.params.get("every", 1))):
                continue  # not this one's turn: the next fault in line may apply
            fault.remaining -= 1
            if fault.remaining <= 0:
                faults.remove(fault)
            return fault
    return None


@dataclass
class Reply:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_reply(status: int, data: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


def bare_address(value: str) -> str:
    """``a@b`` from ``Name <a@b>`` or ``a@b``."""
    match = _ANGLE.search(value)
    return (match.group(1) if match else value).strip()


class State:
    """Everything the server threads share, behind one lock."""

    def __init__(self, keys: dict[str, str] | None, record: str) -> None:
        if record not in RECORD_MODES:
            raise ValueError(f"record must be one of {RECORD_MODES}")
        self.keys = dict(keys or {})
        self.record = record
        self.lock = threading.Lock()
        self.request = threading.local()  # per handler thread: when the request in hand arrived
        self.ids = itertools.count(1)
        self.inactive_addresses: set[str] = set()
        self.invalid_addresses: set[str] = set()
        self.connections: set[socket.socket] = set()
        # Seconds before an accepted message shows in the log searches (a provider's lag).
        self.log_delay = 0.0
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.accepted: list[Accepted] = []
            self.log: list[LoggedMessage] = []
            self.requests: list[RecordedRequest] = []
            self.counts: Counter[str] = Counter()
            self.faults: list[Fault] = []
            self.idempotency: dict[str, tuple[str, Reply]] = {}
            self.in_flight: set[str] = set()

    def take_fault(self, provider: str, *, search: bool = False) -> Fault | None:
        with self.lock:
            return take_fault(self.faults, provider, search=search)

    def is_valid(self, address: str) -> bool:
        return bool(VALID_ADDRESS.match(address)) and address.lower() not in self.invalid_addresses

    def next_id(self, provider: str) -> str:
        return f"emu-{provider}-{next(self.ids):09d}"

    def record_accepted(self, provider: str, entries: list[tuple[str, str]], key: str | None) -> None:
        with self.lock:
            self.counts[provider] += len(entries)
            if self.record != "counts":
                now = time.time()
                arrived = getattr(self.request, "arrived", now)
                self.accepted.extend(
                    Accepted(provider, email, mid, key, now, arrived) for email, mid in entries
                )

    def log_accepted(self, provider: str, entries: list[tuple[str, str, dict[str, str], str]]) -> None:
        """Keep accepted messages (email, id, metadata, tag) for the log searches."""
        if self.record == "counts":
            return
        moment = time.time()
        with self.lock:
            self.log.extend(LoggedMessage(provider, *entry, at=moment) for entry in entries)

    def searchable(self, provider: str) -> list[LoggedMessage]:
        """What the provider's log shows now: messages accepted at least ``log_delay`` seconds ago."""
        cutoff = time.time() - self.log_delay
        with self.lock:
            return [m for m in self.log if m.provider == provider and m.at <= cutoff]

    def record_request(self, request: RecordedRequest) -> None:
        if self.record == "all":
            with self.lock:
                self.requests.append(request)


def inject_fault(state: State, fault: str, provider: str | None, times: int, params: dict[str, Any]) -> None:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; known: {', '.join(FAULTS)}")
    if provider is not None and provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; known: {', '.join(PROVIDERS)}")
    shape = params.get("shape")
    if fault == "unreadable_ok" and shape is not None and shape not in UNREADABLE_SHAPES:
        raise ValueError(f"unknown shape {shape!r}; known: {', '.join(UNREADABLE_SHAPES)}")
    with state.lock:
        state.faults.append(Fault(fault, provider, max(1, times), dict(params)))


def key_ok(state: State, provider: str, given: str | None) -> bool:
    if not given:
        return False
    expected = state.keys.get(provider)
    return expected is None or given == expected
