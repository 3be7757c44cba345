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

LATE_SLACK = 0.1
"""Seconds a batch may go after the moment it was given. Later than that (a stalled process, a
slow database), it takes a new moment: otherwise late batches would go together with the punctual
ones after them, and the provider would see a burst above its rate."""

# A machine so busy that even a fresh moment is missed again and again: go rather than loop.
_NEW_MOMENTS_AT_MOST = 3


class PaceSchedule:
    """What both pacers share: waiting for a reserved moment, and re-reserving when late.

    Subclasses implement :meth:`delay_for` (reserve ``count`` messages, return the wait) and
    :meth:`pause_until`; ``rate``, ``clock`` and ``sleep`` are theirs too.
    """

    rate: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def pause_until(self, moment: float) -> None:
        raise NotImplementedError

    def delay_for(self, count: int) -> float:
        raise NotImplementedError

    def wait(self, count: int, should_stop: Callable[[], bool] = lambda: False) -> float | None:
        """Block until ``count`` messages may go: the moment given (on ``clock``), or None when
        ``should_stop`` turned true meanwhile (the moment is then lost: a little slower, never faster)."""
        remaining = self.delay_for(count)
        moment = self.clock() + remaining
        while remaining > 0:
            if should_stop():
                return None
            self.sleep(min(remaining, 0.2))
            remaining = moment - self.clock()
        return moment

    def on_time(self, count: int, moment: float, should_stop: Callable[[], bool] = lambda: False) -> bool:
        """Just before posting a batch given ``moment``: when more than :data:`LATE_SLACK` has passed
        since, reserve a new moment and wait for it. False when ``should_stop`` turned true meanwhile."""
        for _ in range(_NEW_MOMENTS_AT_MOST):
            if self.rate <= 0 or self.clock() - moment <= LATE_SLACK:
                break
            again = self.wait(count, should_stop)
            if again is None:
                return False
            moment = again
        return True


class Pacer(PaceSchedule):
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
