"""Which strategy earns its keep: warmed keys the application read before they expired.

Each batch records a sample of the keys it wrote (at most ``WARMED_SAMPLE_PER_BATCH``,
a stride through the batch) in one sorted set, scored ``expiry_s * KIND_SLOTS +
kind code`` so that one ``ZSCORE`` gives both when the value expires and who wrote it. The
tracker's flush looks up every key the application read: a sampled key read
before its expiry counts as ``read`` for its strategy, one found expired as
``expired``; either way it leaves the set, so each warmed value counts once.
Expired members nobody read are swept a few at a time by the same flush.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from .. import constants as c
from ..kinds import Kind

T = TypeVar("T")
# A sample's score is ``expiry_s * KIND_SLOTS + kind.code``: the Lua scripts that
# write and settle samples are given this number, so it is defined here alone.
KIND_SLOTS = 4
# Settled samples below this say too little to judge a strategy by.
MIN_SETTLED = 20
EARNS_ITS_KEEP = 0.5
RARELY_READ = 0.1


def sample(written: Sequence[T]) -> list[T]:
    """An evenly spaced sample of a batch's written entries, at most the per-batch cap."""
    stride = -(-len(written) // c.WARMED_SAMPLE_PER_BATCH) or 1
    return list(written[::stride])


@dataclass(frozen=True)
class StrategyAccount:
    """What one strategy warmed and how much of it the application went on to read."""

    strategy: str
    warmed: int  # every key it wrote
    sampled: int  # of those, recorded for accounting
    read: int  # sampled keys read before they expired
    expired: int  # sampled keys that expired or were rewritten before anyone read them
    superseded: int = 0  # left alone: the application wrote them while they loaded
    kept_stale: int = 0  # kept past expiry while the source could not reload them

    @property
    def settled(self) -> int:
        return self.read + self.expired

    @property
    def judged(self) -> bool:
        """Whether enough samples have settled to judge the strategy by."""
        return self.settled >= MIN_SETTLED

    @property
    def read_share(self) -> float | None:
        return self.read / self.settled if self.settled else None

    @property
    def verdict(self) -> str:
        share = self.read_share
        if share is None or not self.judged:
            return "too early to tell"
        if share >= EARNS_ITS_KEEP:
            return "earns its keep"
        if share >= RARELY_READ:
            return "partly read"
        return "mostly unread"

    def as_dict(self) -> dict[str, Any]:
        share = self.read_share
        return {
            "strategy": self.strategy,
            "warmed": self.warmed,
            "sampled": self.sampled,
            "read_before_expiry": self.read,
            "expired_unread": self.expired,
            "read_share": None if share is None else round(share, 4),
            "verdict": self.verdict,
            "superseded": self.superseded,
            "kept_stale": self.kept_stale,
        }


def accounts(counters: Mapping[str, int]) -> list[StrategyAccount]:
    """Per strategy, from the counters hash (fields ``<name>:<code>``): every kind a
    strategy switches, and a copy once one has written or failed keys (a copy's keys
    are not sampled: it moves Redis keys, not the application's)."""
    return [
        StrategyAccount(
            strategy=kind.value,
            warmed=counters.get(f"warmed:{kind.code}", 0),
            sampled=counters.get(f"sampled:{kind.code}", 0),
            read=counters.get(f"read:{kind.code}", 0),
            expired=counters.get(f"expired:{kind.code}", 0),
            superseded=counters.get(f"superseded:{kind.code}", 0),
            kept_stale=counters.get(f"kept_stale:{kind.code}", 0),
        )
        for kind in Kind
        if kind.strategy is not None or _counted(counters, kind)
    ]


def _counted(counters: Mapping[str, int], kind: Kind) -> bool:
    return any(counters.get(f"{name}:{kind.code}") for name in ("warmed", "failed"))


def best(rows: Sequence[StrategyAccount]) -> str | None:
    """The strategy whose warmed keys are read most, among those with enough data."""
    judged = [r for r in rows if r.judged]
    if not judged:
        return None
    return max(judged, key=lambda r: r.read_share or 0.0).strategy
