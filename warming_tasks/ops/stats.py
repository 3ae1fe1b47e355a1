"""What ``warming-tasks stats`` shows, gathered as plain data."""

from __future__ import annotations

import time
from typing import Any

from ..maths.accounting import accounts, best
from ..maths.decay import decayed_count
from ..maths.tuning import CANDIDATES_S, MIN_EVIDENCE, START_S, Belief
from ..settings import DEFAULT_SOURCE, Settings, redact_url
from ..store import CacheStore
from .checks import eviction_warning

# A refresh that finds at least this share of at least this many cached keys due.
EVERY_KEY_SHARE = 0.9
EVERY_KEY_MIN = 10


def collect(store: CacheStore, settings: Settings, top: int, runs: int = 10) -> dict[str, Any]:
    """Top keys by decayed reads, what each strategy warmed and how much of it was
    read, recent runs, the refresh lock and warnings."""
    now = time.time()
    ranking = store.ranking()
    epoch = ranking.epoch
    belief = store.belief() if settings.auto_half_life else None
    half_life = ranking.scored_with(settings.decay_half_life)
    top_keys = [
        {"key": key, "score": round(decayed_count(score, now, epoch or now, half_life), 3)}
        for key, score in store.top_keys(top)
    ]
    locks = {name: _lock(store, name) for name in settings.source_specs() or [DEFAULT_SOURCE]}
    held = [lock for lock in locks.values() if lock is not None]
    warning = eviction_warning(store)
    strategies = accounts(store.account_counters())
    hits, misses = store.reads()
    recent = store.recent_runs(runs)
    warnings = [w for w in (warning, reloads_everything(recent, settings)) if w]
    return {
        "cache": redact_url(settings.redis_url),
        "tracked_keys": store.frequency_size(),
        "half_life_s": half_life,
        "half_life": auto_state(settings, belief),
        "top_keys": top_keys,
        "reads": {
            "hits": hits,
            "misses": misses,
            # Exactly hits / (hits + misses), as the contract says: a script compares it.
            "hit_ratio": hits / (hits + misses) if hits + misses else None,
        },
        "strategies": [row.as_dict() for row in strategies],
        "best_strategy": best(strategies),
        "recent_runs": recent,
        # Each source's refresh lock; ``refresh_lock``: the first held, if any.
        "refresh_lock": held[0] if held else None,
        "refresh_locks": locks,
        "paused": store.paused(),
        "eviction_policy": store.config_value("maxmemory-policy"),
        "warnings": warnings,
    }


def _lock(store: CacheStore, source: str) -> dict[str, Any] | None:
    holder = store.lock_holder(source)
    if holder is None:
        return None
    return {"run_id": holder[0], "expires_in_s": holder[1] / 1000}


def reloads_everything(recent: list[dict[str, Any]], settings: Settings) -> str | None:
    """A warning when the last refresh found (nearly) every cached key due: the
    source's TTLs are then at or below the refresh threshold, and every refresh
    reloads the whole catalogue."""
    last = next((run for run in recent if run.get("kind") == "refresh"), None)
    if last is None:
        return None
    cached = int(last.get("checked", 0)) - int(last.get("not_cached", 0))
    due = int(last.get("due", 0)) + int(last.get("skipped_unread", 0))
    if cached < EVERY_KEY_MIN or due < EVERY_KEY_SHARE * cached:
        return None
    return (
        f"the last refresh found {due:,} of {cached:,} cached keys due: the source's TTLs "
        f"look at or below WARMING_REFRESH_THRESHOLD={settings.refresh_threshold}, so every "
        "refresh reloads every key (`warming-tasks check` samples them)"
    )


def auto_state(settings: Settings, belief: Belief | None) -> dict[str, Any]:
    """How the half-life is chosen and, on auto, what the evidence says."""
    if not settings.auto_half_life:
        return {"mode": "fixed", "seconds": settings.decay_half_life}
    if belief is None:
        return {
            "mode": "auto",
            "seconds": START_S,
            "since": None,
            "evidence_reads": 0,
            "evidence_needed": MIN_EVIDENCE,
            "tuned_for_top": settings.predictive_limit,
            "hit_ratio_by_candidate": dict.fromkeys((f"{h:g}" for h in CANDIDATES_S), None),
        }
    return {
        "mode": "auto",
        "seconds": belief.half_life_s,
        "since": belief.since_s,
        "evidence_reads": round(belief.reads, 1),
        "evidence_needed": MIN_EVIDENCE,
        # The N the hits are counted for: the warm set predictive loads read.
        "tuned_for_top": belief.warm_set or settings.predictive_limit,
        # What each candidate's top N would have hit of the reads that followed.
        "hit_ratio_by_candidate": {
            f"{h:g}": None if r is None else round(r, 4) for h, r in belief.hit_ratios().items()
        },
    }
