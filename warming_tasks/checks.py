"""Operational checks of the cache Redis: pure functions over a store, no side effects."""

from __future__ import annotations

from .store import CacheStore


def eviction_warning(store: CacheStore) -> str | None:
    """A warning when Redis may evict the frequency set or the run records, else None."""
    policy = store.config_value("maxmemory-policy")
    if policy is not None and policy.startswith("allkeys-"):
        return (
            f"the cache Redis has maxmemory-policy={policy}: under memory pressure it can "
            "evict the access-frequency set and the run history, not only cached entries; "
            "prefer volatile-lru or volatile-lfu, which evict only keys that expire"
        )
    return None
