"""``maths.expiry``: the TTL a written key gets (jitter) and when a cached key is due
for refresh."""

from __future__ import annotations

import random

import pytest

from warming_tasks.maths.expiry import in_refresh_window, jittered_ttl


@pytest.mark.parametrize(
    ("ttl", "jitter", "low", "high"),
    [
        (3600, 0.1, 3240, 3600),
        (3600, 0.0, 3600, 3600),
        (10, 0.5, 5, 10),
        (1, 0.9, 1, 1),
        (2, 0.99, 1, 2),
    ],
)
def test_jittered_ttl_stays_in_its_range(ttl: int, jitter: float, low: int, high: int) -> None:
    rng = random.Random(7)
    draws = {jittered_ttl(ttl, jitter, rng) for _ in range(2000)}
    assert min(draws) >= low
    assert max(draws) <= high
    if high - low >= 10:
        assert len(draws) > 10  # actually spread, not constant


@pytest.mark.parametrize(
    ("pttl_ms", "threshold_s", "due"),
    [
        (-2, 300, False),
        (-1, 300, False),
        (0, 300, False),
        (1, 300, True),
        (299_999, 300, True),
        (300_000, 300, False),
        (3_600_000, 300, False),
    ],
)
def test_refresh_window(pttl_ms: int, threshold_s: int, due: bool) -> None:
    assert in_refresh_window(pttl_ms, threshold_s) is due
