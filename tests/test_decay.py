"""``maths.decay``: forward-decayed access weights, and when the epoch must move."""

from __future__ import annotations

import math

import pytest

from warming_tasks.maths.decay import access_weight, decayed_count, needs_rebase


@pytest.mark.parametrize(
    ("now", "epoch", "half_life", "weight"),
    [
        (0, 0, 60, 1.0),
        (60, 0, 60, 2.0),
        (120, 0, 60, 4.0),
        (30, 0, 60, math.sqrt(2)),
        (0, 60, 60, 0.5),
    ],
)
def test_access_weight_doubles_every_half_life(
    now: float, epoch: float, half_life: float, weight: float
) -> None:
    assert access_weight(now, epoch, half_life) == pytest.approx(weight)


def test_an_old_access_counts_half_after_one_half_life() -> None:
    score = access_weight(100, 0, 50)  # one access at t=100
    assert decayed_count(score, 100, 0, 50) == pytest.approx(1.0)
    assert decayed_count(score, 150, 0, 50) == pytest.approx(0.5)
    assert decayed_count(score, 200, 0, 50) == pytest.approx(0.25)


def test_rebase_is_needed_long_before_a_double_overflows() -> None:
    assert not needs_rebase(3600 * 500, 0, 3600)
    assert needs_rebase(3600 * 513, 0, 3600)
    assert math.isfinite(access_weight(3600 * 513, 0, 3600))
