"""``WARMING_DECAY_HALF_LIFE=auto``: choosing the half-life from how well each
candidate's ranking predicted the reads that followed.

A fixed sample of the key space (one key in ``SAMPLE_ONE_IN``, by a hash of the
key) is ranked in one small forward-decayed set per candidate half-life. Each
flush, before adding its reads, asks where each sampled key read since the last
flush stood in each candidate's ranking: a read that fell in a candidate's top
``limit / SAMPLE_ONE_IN`` is a hit that candidate would have had with the warm
set ``predictive_load(limit)`` picks. Those hits, decayed over
``EVAL_HALF_LIFE_S``, are the evidence; the frequency set itself runs at the
half-life they favour. Misses and hits alike count: the question is which
ranking held the keys the application went on to read.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# A factor of 2√2 apart: with the refinement below, close enough to any half-life
# in between that the best fixed one in hindsight is within 1% (benchmarks.hit_ratio).
CANDIDATES_S: tuple[float, ...] = (30.0, 85.0, 240.0, 680.0, 1920.0, 5430.0)
# Scores stored before their half-life was stored with them were weighted at 3600 s,
# the default then.
LEGACY_HALF_LIFE_S = 3600.0
START_S = 1920.0  # before any evidence: long memory, right for stable popularity
SAMPLE_ONE_IN = 32  # the candidates' sets hold this share of the keys (and cost of a flush)
# Each candidate is judged by its ranking of up to this long ago: a warm set is read
# for minutes after it is loaded, not just until the next flush.
SNAPSHOT_S = 200.0
EVAL_HALF_LIFE_S = 1800.0  # how long evidence of an earlier regime keeps counting
MIN_EVIDENCE = 200.0  # decayed sampled reads before the first change
MIN_STEP = math.sqrt(2)  # smaller changes are noise, not worth rewriting the set
DWELL_S = 120.0  # least time between two changes
# Candidates whose predicted hit ratios are this close count as equal: the longest
# of them wins, as the steadier choice.
TIE = 0.001


def in_sample(key: str) -> bool:
    """Whether ``key`` is one of the sampled keys the candidates rank."""
    return zlib.crc32(key.encode()) % SAMPLE_ONE_IN == 0


def sample_rank_limit(limit: int) -> int:
    """The top of a candidate's sample set that stands for the top ``limit`` keys."""
    return max(1, round(limit / SAMPLE_ONE_IN))


@dataclass(frozen=True)
class Belief:
    """What ``auto`` holds now: its half-life, since when, and the evidence."""

    half_life_s: float
    since_s: float
    reads: float  # sampled reads the evidence is made of (decayed)
    hits: tuple[float, ...]  # per candidate, of those reads
    born_s: float = 0.0  # when the candidates' sets started
    warm_set: int | None = None  # the last predictive load's N, that the hits are of

    def hit_ratios(self) -> dict[float, float | None]:
        return {
            h: (hits / self.reads if self.reads else None)
            for h, hits in zip(CANDIDATES_S, self.hits, strict=True)
        }


def best_half_life(hits: Sequence[float], reads: float) -> float:
    """The half-life the evidence favours: the best candidate, refined between its
    neighbours by the vertex of a parabola through the three (in log half-life)."""
    if reads <= 0 or len(hits) != len(CANDIDATES_S):
        return START_S
    ratios = [h / reads for h in hits]
    top = max(ratios)
    best = max(i for i, r in enumerate(ratios) if r >= top - TIE)
    x = math.log2(CANDIDATES_S[best])
    if 0 < best < len(ratios) - 1 and ratios[best] >= top:
        left, mid, right = ratios[best - 1], ratios[best], ratios[best + 1]
        curvature = left - 2 * mid + right
        if curvature < 0:
            step = math.log2(CANDIDATES_S[best + 1] / CANDIDATES_S[best])
            offset = 0.5 * (left - right) / curvature
            x += step * max(-0.5, min(0.5, offset))
    return float(round(2**x))


def next_half_life(belief: Belief, now_s: float) -> float | None:
    """The half-life to move to now, or None to stay: enough evidence, a change
    worth a rewrite of the frequency set, and not too soon after the last.

    A memory longer than the candidates' sets are old is not chosen: while every
    set is young, the long ones hold more reads and no stale ones yet, so they look
    best whether or not popularity moves; a move there is slow to undo.
    """
    if belief.reads < MIN_EVIDENCE or now_s - belief.since_s < DWELL_S:
        return None
    wanted = best_half_life(belief.hits, belief.reads)
    if wanted > belief.half_life_s:
        wanted = max(belief.half_life_s, min(wanted, now_s - belief.born_s))
    if max(wanted, belief.half_life_s) / min(wanted, belief.half_life_s) < MIN_STEP:
        return None
    return wanted
