"""Waits a provider imposes are read, capped and stored without ever crashing a send (issue 9)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from newsletter.config import load_settings
from newsletter.errors import ConfigError
from newsletter.send.pacing import backoff_delay
from tests.conftest import SETTINGS_TEMPLATE


@pytest.mark.parametrize("retry_after", [99999999999999.0, 1.7e12, float("inf"), 1e308])
def test_a_wait_the_provider_asks_for_is_capped_at_max_wait(retry_after: float) -> None:
    rng = random.Random(1)
    delays = [
        backoff_delay(3, base=0.5, cap=60, retry_after=retry_after, max_wait=900, rng=rng) for _ in range(50)
    ]
    assert all(0 <= d <= 900.5 for d in delays)


def test_nan_and_negative_waits_fall_back_to_the_backoff() -> None:
    rng = random.Random(2)
    assert 0 < backoff_delay(1, base=0.5, cap=60, retry_after=float("nan"), rng=rng) <= 0.5
    assert 0 <= backoff_delay(1, base=0.5, cap=60, retry_after=-5.0, rng=rng) <= 0.5


def test_a_huge_attempt_number_does_not_overflow() -> None:
    assert backoff_delay(10_000, base=0.5, cap=60, rng=random.Random(3)) <= 60


def _settings(tmp_path: Path, extra: str) -> Path:
    text = SETTINGS_TEMPLATE.format(database_url="sqlite:///n.db").replace(
        'outbox_dir = "outbox"\n', f'outbox_dir = "outbox"\n{extra}\n', 1
    )
    path = tmp_path / "newsletter.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_max_wait_seconds_is_a_setting_with_a_sane_default(tmp_path: Path) -> None:
    assert load_settings(_settings(tmp_path, "")).provider.max_wait_seconds == 900.0
    assert load_settings(_settings(tmp_path, "max_wait_seconds = 30")).provider.max_wait_seconds == 30.0


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("max_wait_seconds = -1", "[provider] max_wait_seconds: -1 is too small"),
        (
            "max_wait_seconds = 1e9",
            "[provider] max_wait_seconds: 1000000000.0 is too large — use at most 86400",
        ),
        ("max_wait_seconds = nan", "[provider] max_wait_seconds: must be a number, not nan"),
        ("messages_per_second = inf", "[provider] messages_per_second: must be a number, not inf"),
        ("timeout_seconds = nan", "[provider] timeout_seconds: must be a number, not nan"),
    ],
)
def test_a_wait_or_rate_that_is_not_a_usable_number_is_one_clear_line(
    tmp_path: Path, line: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(_settings(tmp_path, line))
    assert message in str(caught.value)
