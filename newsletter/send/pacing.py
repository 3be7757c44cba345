"""How fast to send: a message-rate limiter and exponential backoff with jitter.

:class:`Pacer` spaces batches so that ``messages_per_second`` holds on
average, and can be paused for everyone at once when the provider says
"slow down" (a 429 with ``Retry-After``). :func:`backoff_delay` spreads the
retries of many senders (full jitter), never shorter than what the provider
asked for.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable


class Pacer:
    """Hands out permission to send ``n`` messages, at most ``rate`` per second on average."""

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.clock = clock
        self.sleep = sleep
        self._next = clock()
        self._paused_until = 0.0
        self._lock = threading.Lock()

    def pause_until(self, moment: float) -> None:
        with self._lock:
            self._paused_until = max(self._paused_until, moment)

    def delay_for(self, count: int) -> float:
        """Reserve ``count`` messages; returns how long the caller must wait before sending them."""
        with self._lock:
            now = self.clock()
            start = max(now, self._next, self._paused_until)
            if self.rate > 0:
                self._next = start + count / self.rate
            return start - now

    def wait(self, count: int, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Block until ``count`` messages may go; False when ``should_stop`` turned true meanwhile."""
        remaining = self.delay_for(count)
        deadline = self.clock() + remaining
        while remaining > 0:
            if should_stop():
                return False
            self.sleep(min(remaining, 0.2))
            remaining = deadline - self.clock()
        return True


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    retry_after: float | None = None,
    max_wait: float = 900.0,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based): full jitter, at least ``retry_after``.

    Never more than ``max_wait``: ``retry_after`` comes from a header, and a header can say
    99999999999999 (or a time in milliseconds) — waiting that long is a hang, and adding it
    to a date overflows.
    """
    source = rng or random
    if retry_after is not None and math.isfinite(retry_after):
        # The provider named the moment; a little jitter keeps concurrent workers from colliding.
        return capped_wait(retry_after, max_wait) + source.uniform(0, min(base, 1.0, max_wait))
    ceiling = min(cap, max_wait, base * (2 ** min(max(0, attempt - 1), 64)))
    return source.uniform(ceiling / 2, ceiling)


def capped_wait(seconds: float | None, max_wait: float) -> float:
    """``seconds`` held within 0 … ``max_wait``; 0 for None or NaN."""
    if seconds is None or math.isnan(seconds):
        return 0.0
    return min(max(seconds, 0.0), max_wait)
