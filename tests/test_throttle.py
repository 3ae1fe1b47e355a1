"""``maths.throttle``: a burst allowed, then what is held back counted."""

from __future__ import annotations

from warming_tasks.maths.throttle import Throttle


def test_the_throttle_allows_a_burst_then_counts_what_it_holds_back() -> None:
    now = [0.0]
    throttle = Throttle(limit=3, period_s=60, clock=lambda: now[0])
    assert [throttle.allow() for _ in range(5)] == [
        (True, 0),
        (True, 0),
        (True, 0),
        (False, 0),
        (False, 0),
    ]
    now[0] = 61
    assert throttle.allow() == (True, 2), "the next line says how many were held back"
    assert throttle.allow() == (True, 0)
