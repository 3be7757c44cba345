"""A scriptable in-memory provider for engine tests (the emulator covers real HTTP)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import httpx

from newsletter.message import Batch
from newsletter.providers.base import Outcome, Provider, RecipientResult
from newsletter.providers.settings import ProviderSettings

Script = Callable[[Batch, int], list[RecipientResult] | None]


class FakeProvider(Provider):
    """Accepts everything unless ``script(batch, call_number)`` returns results or raises."""

    def __init__(
        self,
        *,
        name: str = "fake",
        idempotent: bool = False,
        max_batch: int = 500,
        script: Script | None = None,
    ):
        super().__init__(client=None)
        self.name = name
        self.idempotent = idempotent
        self.max_batch = max_batch
        self.script = script
        self.calls: list[Batch] = []
        self.delivered: Counter[str] = Counter()
        self._keys_seen: set[str] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: ProviderSettings, client: httpx.Client | None = None) -> FakeProvider:
        return cls(name=settings.name)

    def send_batch(self, batch: Batch) -> list[RecipientResult]:
        with self._lock:
            self.calls.append(batch)
            number = len(self.calls)
        scripted = self.script(batch, number) if self.script else None
        if scripted is not None:
            return scripted
        with self._lock:
            # An idempotent provider delivers a batch key once, however often it is posted.
            if not (self.idempotent and batch.idempotency_key in self._keys_seen):
                for recipient in batch.recipients:
                    self.delivered[recipient.email] += 1
            if batch.idempotency_key:
                self._keys_seen.add(batch.idempotency_key)
        return [
            RecipientResult(Outcome.ACCEPTED, message_id=f"id-{number}-{i}")
            for i, _ in enumerate(batch.recipients)
        ]
