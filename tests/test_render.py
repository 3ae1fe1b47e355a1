"""``cli.render``: how ``stats`` words what ``WARMING_DECAY_HALF_LIFE=auto`` believes."""

from __future__ import annotations

from warming_tasks.cli.render import describe_half_life
from warming_tasks.maths.tuning import CANDIDATES_S, Belief
from warming_tasks.ops.stats import auto_state
from warming_tasks.settings import load_settings


def test_stats_says_auto_has_no_evidence_yet_instead_of_a_row_of_zeros() -> None:
    before = auto_state(load_settings(), None)
    line = describe_half_life(before)
    assert line == (
        "half-life auto: 1920 s, the one it starts with: 0 of the 200 sampled reads it "
        "needs before it chooses (track the application's reads: track_access or a "
        "tracking cache backend)"
    )
    assert "%" not in line
    thin = Belief(1920.0, 1_700_000_000.0, 57.0, (10.0,) * len(CANDIDATES_S))
    assert "57 of the 200 sampled reads" in describe_half_life(auto_state(load_settings(), thin))


def test_stats_says_what_auto_chose_and_which_candidate_held_most() -> None:
    hits = (300.0, 500.0, 620.0, 600.0, 580.0, 560.0)
    belief = Belief(240.0, 1_700_000_000.0, 1000.0, hits)
    line = describe_half_life(auto_state(load_settings(), belief))
    assert line.startswith(
        "half-life auto: 240 s since 2023-11-14 22:13:20 UTC (a read counts half after 4 min); "
        "of the last 1,000 sampled reads, a top-1,000 warm set ranked with each candidate "
        "half-life would have held: 30 s 30.0%, 85 s 50.0%, 240 s 62.0%"
    )
    assert line.endswith("(best 240 s)")
    # After a predictive load of 40, the evidence is about a top 40.
    read = Belief(240.0, 1_700_000_000.0, 1000.0, hits, warm_set=40)
    assert "a top-40 warm set" in describe_half_life(auto_state(load_settings(), read))
