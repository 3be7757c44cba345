"""Backoff and pacing arithmetic, with a fake clock."""

from __future__ import annotations

import bisect
import random

from newsletter.send.pacing import LATE_SLACK, Pacer, backoff_delay


def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(attempt, base=1.0, cap=8.0, rng=rng) for attempt in range(1, 7)]
    ceilings = [1, 2, 4, 8, 8, 8]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True))
    assert len({round(d, 6) for d in delays}) == len(delays)  # jittered, not fixed


def test_backoff_never_shorter_than_retry_after() -> None:
    rng = random.Random(1)
    assert all(backoff_delay(1, base=0.5, cap=60, retry_after=30, rng=rng) >= 30 for _ in range(50))
    assert all(backoff_delay(9, base=0.5, cap=60, retry_after=2, rng=rng) < 3 for _ in range(50))


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_pacer_spaces_batches_to_the_rate_and_honours_a_pause() -> None:
    clock = FakeClock()
    pacer = Pacer(100.0, clock=clock, sleep=clock.sleep)
    assert pacer.delay_for(50) == 0.0
    assert pacer.delay_for(50) == 0.5
    assert pacer.delay_for(50) == 1.0
    pacer.pause_until(clock.now + 5.0)
    assert pacer.delay_for(10) == 5.0
    unlimited = Pacer(0.0, clock=clock, sleep=clock.sleep)
    assert unlimited.delay_for(1000) == 0.0 and unlimited.delay_for(1000) == 0.0


def test_pacer_wait_gives_up_when_asked_to_stop() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    pacer.delay_for(10)  # the next batch may start 10 s from now
    started = clock.now
    assert pacer.wait(1, should_stop=lambda: clock.now - started > 1.0) is None
    assert clock.now - started < 2.0


def test_batches_held_up_past_their_moment_do_not_go_out_together() -> None:
    # Three workers at 200 a second, batches of 50: moments a quarter second apart. A stall (a slow
    # database, a busy machine) holds all three up by 0.75 s after their moments were given. Posted
    # then, they would go out together with the next ones on schedule: 350 in one second. Each takes
    # a new moment instead, and no second sees more than the rate plus the batch on its edge.
    clock = FakeClock()
    pacer = Pacer(200.0, clock=clock, sleep=clock.sleep)
    posted: list[float] = []
    held_up = [pacer.wait(50)] + [clock.now + pacer.delay_for(50) for _ in range(2)]
    clock.now = held_up[-1] + 0.75
    for moment in held_up:
        assert moment is not None
        assert pacer.on_time(50, moment)
        posted += [clock.now] * 50
    for _ in range(8):
        moment = pacer.wait(50)
        assert moment is not None and pacer.on_time(50, moment)
        posted += [clock.now] * 50
    posted.sort()
    most = max(bisect.bisect_left(posted, start + 1.0) - i for i, start in enumerate(posted))
    assert most <= 200 + 50


def test_a_batch_within_the_slack_keeps_its_moment_and_stopping_while_late_says_so() -> None:
    clock = FakeClock()
    pacer = Pacer(100.0, clock=clock, sleep=clock.sleep)
    moment = pacer.wait(50)
    assert moment == clock.now
    clock.now += LATE_SLACK / 2
    assert pacer.on_time(50, moment) and clock.now == moment + LATE_SLACK / 2  # no new wait
    pacer.delay_for(500)  # the schedule is five seconds ahead
    clock.now += 1.0
    late = clock.now
    assert pacer.on_time(50, moment, should_stop=lambda: clock.now - late > 1.0) is False
