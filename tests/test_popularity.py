"""``maths.popularity``: hot keys in popularity order, never held whole."""

from __future__ import annotations

from collections.abc import Sequence

from warming_tasks.maths.popularity import popular_first


def test_popular_first_puts_scored_keys_first_then_the_rest_in_source_order() -> None:
    scores = {"k7": 5.0, "k2": 9.0, "k9": 1.0, "other": 99.0}
    calls: list[int] = []

    def hot_keys() -> list[str]:
        calls.append(1)
        return [f"k{i}" for i in range(10)]

    def lookup(keys: Sequence[str]) -> list[float | None]:
        return [scores.get(k) for k in keys]

    ordered = list(popular_first(hot_keys, lookup, chunk=3))
    assert ordered == ["k2", "k7", "k9", "k0", "k1", "k3", "k4", "k5", "k6", "k8"]
    assert len(calls) == 2, "the hot keys are listed twice, never held whole"
