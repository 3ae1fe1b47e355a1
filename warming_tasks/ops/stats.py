"""What ``warming-tasks stats`` shows, gathered as plain data."""

from __future__ import annotations

import time
from typing import Any

from ..maths.accounting import accounts, best
from ..maths.decay import decayed_count
from ..settings import Settings, redact_url
from ..store import CacheStore
from .checks import eviction_warning


def collect(store: CacheStore, settings: Settings, top: int, runs: int = 10) -> dict[str, Any]:
    """Top keys by decayed reads, what each strategy warmed and how much of it was
    read, recent runs, the refresh lock and warnings."""
    now = time.time()
    epoch = store.epoch()
    half_life = settings.decay_half_life
    top_keys = [
        {"key": key, "score": round(decayed_count(score, now, epoch or now, half_life), 3)}
        for key, score in store.top_keys(top)
    ]
    holder = store.lock_holder()
    lock = None if holder is None else {"run_id": holder[0], "expires_in_s": holder[1] / 1000}
    warning = eviction_warning(store)
    strategies = accounts(store.account_counters())
    hits, misses = store.reads()
    return {
        "cache": redact_url(settings.redis_url),
        "tracked_keys": store.frequency_size(),
        "half_life_s": half_life,
        "top_keys": top_keys,
        "reads": {
            "hits": hits,
            "misses": misses,
            "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
        },
        "strategies": [row.as_dict() for row in strategies],
        "best_strategy": best(strategies),
        "recent_runs": store.recent_runs(runs),
        "refresh_lock": lock,
        "eviction_policy": store.config_value("maxmemory-policy"),
        "warnings": [warning] if warning else [],
    }
