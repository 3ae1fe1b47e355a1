"""Workloads ``auto`` was not tuned on: trace families generated from a seed and a
parameter, for ``python -m benchmarks.held_out``.

Every family draws each access's popularity rank from a Zipf distribution over
``keys`` ranks; what differs is how ranks map to keys over time:

- ``zipf`` (parameter: the exponent): a stationary catalogue;
- ``rotation`` (the share of the top ranks replaced per window): brand-new keys
  take top ranks one by one, evenly through every window (the test window too);
- ``shift`` (the share of the top ranks that move): at two thirds of training,
  that share of the top ranks' keys swap places with keys of the cold tail at once;
- ``flash`` (how many keys): that many brand-new keys rise into the top 100
  during the last training window and stay there;
- ``diurnal`` (the period, s): two popular sets, each access from one or the
  other with a probability that follows a sine of the time.

The ideal warm set is the true top N of the generating distribution as the test
window starts (for ``diurnal``, of the mixture at that instant).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .hit_ratio import Config, Trace, key_name, timed_trace

FAMILIES: dict[str, tuple[float, ...]] = {
    "zipf": (0.7, 1.0, 1.3),
    "rotation": (0.1, 0.3, 0.6),
    "shift": (0.5, 1.0),
    "flash": (10.0, 100.0),
    "diurnal": (600.0, 2400.0),
}
TOP = 2_000  # the ranks that rotate and shift
FLASH_TOP = 100
EXPONENT = 1.0  # of every family but zipf


@dataclass(frozen=True)
class Family:
    name: str
    param: float

    @property
    def label(self) -> str:
        return f"{self.name}={self.param:g}"


def families() -> list[Family]:
    return [Family(name, p) for name, params in FAMILIES.items() for p in params]


def _cum(keys: int, exponent: float) -> list[float]:
    total, out = 0.0, []
    for rank in range(1, keys + 1):
        total += rank**-exponent
        out.append(total)
    return out


def make(cfg: Config, family: Family, seed: int) -> Trace:
    """The trace of ``family`` for ``seed``: the same on every run."""
    rng = random.Random(f"{seed}:{family.label}")
    exponent = family.param if family.name == "zipf" else EXPONENT
    n = cfg.keys
    total = cfg.training_accesses + cfg.window_accesses
    ranks = rng.choices(range(n), cum_weights=_cum(n, exponent), k=total)
    mapping = list(range(n))
    rng.shuffle(mapping)
    other = list(range(n))
    rng.shuffle(other)  # diurnal's second popular set
    fresh = n  # the next brand-new key's id
    changes = _schedule(cfg, family, rng)

    accesses: list[str] = []
    ideal: list[str] = []
    for i, rank in enumerate(ranks):
        for what, where in changes.get(i, ()):
            if what == "new":
                mapping[where] = fresh
                fresh += 1
            else:  # swap with a key of the cold tail
                tail = rng.randrange(TOP, n)
                mapping[where], mapping[tail] = mapping[tail], mapping[where]
        t = i / cfg.rate_per_s
        if i == cfg.training_accesses:
            ideal = _ideal(cfg, family, mapping, other, t)
        if family.name == "diurnal" and rng.random() >= _day(family.param, t):
            accesses.append(key_name(other[rank]))
        else:
            accesses.append(key_name(mapping[rank]))
    # Kind "file": the families are scored apart from the harness' own kinds.
    return timed_trace(cfg, f"{family.label} seed={seed}", "file", exponent, accesses, ideal)


def _schedule(cfg: Config, family: Family, rng: random.Random) -> dict[int, list[tuple[str, int]]]:
    """At which access each change of the rank-to-key mapping happens: ``new`` (a
    brand-new key takes the rank) or ``swap`` (with a key of the cold tail)."""
    changes: dict[int, list[tuple[str, int]]] = {}

    def at(index: int, what: str, rank: int) -> None:
        changes.setdefault(index, []).append((what, rank))

    w = cfg.window_accesses
    if family.name == "rotation":
        replaced = max(1, round(family.param * TOP))
        for window in range(cfg.training_windows + 1):
            for j, rank in enumerate(rng.sample(range(TOP), replaced)):
                at(window * w + (2 * j + 1) * w // (2 * replaced), "new", rank)
    elif family.name == "shift":
        for rank in rng.sample(range(TOP), max(1, round(family.param * TOP))):
            at(2 * cfg.training_accesses // 3, "swap", rank)
    elif family.name == "flash":
        count = int(family.param)
        start = cfg.training_accesses - w
        for j in range(count):
            at(start + (2 * j + 1) * w // (2 * count), "new", rng.randrange(FLASH_TOP))
    return changes


def _day(period_s: float, t: float) -> float:
    """The probability that an access at ``t`` is from the first popular set."""
    return 0.5 + 0.5 * math.sin(2 * math.pi * t / period_s)


def _ideal(
    cfg: Config, family: Family, mapping: list[int], other: list[int], t: float
) -> list[str]:
    top = max(cfg.sizes)
    if family.name != "diurnal":
        return [key_name(k) for k in mapping[:top]]
    p = _day(family.param, t)
    weight: dict[int, float] = {}
    for rank in range(min(cfg.keys, 4 * top)):
        share = (rank + 1) ** -EXPONENT
        weight[mapping[rank]] = weight.get(mapping[rank], 0.0) + p * share
        weight[other[rank]] = weight.get(other[rank], 0.0) + (1 - p) * share
    return [key_name(k) for k in sorted(weight, key=weight.__getitem__, reverse=True)[:top]]
