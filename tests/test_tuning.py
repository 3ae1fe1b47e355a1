"""How ``WARMING_DECAY_HALF_LIFE=auto`` decides, without any server."""

from __future__ import annotations

import pytest

from warming_tasks.maths.tuning import (
    CANDIDATES_S,
    DWELL_S,
    MIN_EVIDENCE,
    SAMPLE_ONE_IN,
    START_S,
    Belief,
    best_half_life,
    in_sample,
    next_half_life,
    sample_rank_limit,
)

READS = 10_000.0


def hits(*ratios: float) -> tuple[float, ...]:
    assert len(ratios) == len(CANDIDATES_S)
    return tuple(r * READS for r in ratios)


def test_the_sample_is_one_key_in_sample_one_in_and_the_same_every_time() -> None:
    keys = [f"product:{i}" for i in range(64_000)]
    sampled = [k for k in keys if in_sample(k)]
    assert len(sampled) == pytest.approx(len(keys) / SAMPLE_ONE_IN, rel=0.05)
    assert sampled == [k for k in keys if in_sample(k)]


def test_the_sample_rank_stands_for_the_top_n() -> None:
    assert sample_rank_limit(1_000) == round(1_000 / SAMPLE_ONE_IN)
    assert sample_rank_limit(10_000) == round(10_000 / SAMPLE_ONE_IN)
    assert sample_rank_limit(3) == 1, "at least the top key"


def test_the_best_candidate_wins_and_is_refined_toward_its_better_neighbour() -> None:
    # 240 s is best, 85 s close behind, 680 s far: the choice leans below 240 s.
    chosen = best_half_life(hits(0.50, 0.60, 0.62, 0.55, 0.52, 0.51), READS)
    assert 85 < chosen < 240
    # A symmetric peak stays on the candidate.
    assert best_half_life(hits(0.50, 0.55, 0.62, 0.55, 0.50, 0.50), READS) == 240


def test_near_ties_go_to_the_longest_half_life() -> None:
    # Stable popularity: every long memory does as well; the steadiest wins.
    assert best_half_life(hits(0.60, 0.63, 0.645, 0.6498, 0.65, 0.6499), READS) == CANDIDATES_S[-1]


def test_no_evidence_keeps_the_starting_half_life() -> None:
    assert best_half_life((0.0,) * len(CANDIDATES_S), 0.0) == START_S


def belief(held: float, since: float, reads: float, *ratios: float) -> Belief:
    return Belief(held, since, reads, tuple(r * reads for r in ratios))


def test_drift_moves_the_half_life_short_and_stability_moves_it_back() -> None:
    drift = (0.70, 0.66, 0.60, 0.55, 0.52, 0.51)  # the shortest memory predicts best
    now = 10_000.0
    moved = next_half_life(belief(START_S, now - DWELL_S, READS, *drift), now)
    assert moved == CANDIDATES_S[0]
    stable = (0.55, 0.60, 0.63, 0.645, 0.65, 0.65)
    back = next_half_life(belief(CANDIDATES_S[0], now, READS, *stable), now + DWELL_S)
    assert back == CANDIDATES_S[-1]


def test_a_change_waits_for_evidence_time_and_a_real_difference() -> None:
    drift = (0.70, 0.66, 0.60, 0.55, 0.52, 0.51)
    now = 10_000.0
    assert next_half_life(belief(START_S, 0.0, MIN_EVIDENCE / 2, *drift), now) is None
    assert next_half_life(belief(START_S, now - DWELL_S / 2, READS, *drift), now) is None
    # Already within a factor √2 of what the evidence favours: not worth a rewrite.
    assert next_half_life(belief(35.0, 0.0, READS, *drift), now) is None
