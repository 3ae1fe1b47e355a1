"""Forward exponential decay of access counts.

An access at time ``t`` adds ``2**((t - epoch) / half_life)`` to its key's score.
Scores then rank keys by decayed frequency without rewriting old scores: every
score shrinks by the same factor as time passes, so only the epoch's distance
from now needs a rebase, and only when the exponent nears a double's range.
"""

import math

from ..constants import REBASE_EXPONENT


def access_weight(now_s: float, epoch_s: float, half_life_s: float) -> float:
    """The score one access at ``now_s`` adds."""
    return math.exp2((now_s - epoch_s) / half_life_s)


def decayed_count(score: float, now_s: float, epoch_s: float, half_life_s: float) -> float:
    """A stored score as the decayed number of accesses it stands for at ``now_s``
    (a negative exponent: long after the epoch it underflows to 0, never overflows)."""
    return score * math.exp2((epoch_s - now_s) / half_life_s)


def needs_rebase(now_s: float, epoch_s: float, half_life_s: float) -> bool:
    """Whether the epoch is so old that new weights approach a double's limit."""
    return (now_s - epoch_s) / half_life_s > REBASE_EXPONENT
