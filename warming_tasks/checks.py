"""Operational checks of the cache Redis: pure functions over a store, no side effects."""

from __future__ import annotations

from .store import CacheStore

# Policies that can evict the suite's own keys: allkeys-* can take the frequency
# set and run history (no TTL); volatile-ttl and volatile-random can take the
# refresh lock or a running run's record (short TTLs). volatile-lru/lfu evict
# the least used expiring keys, which a live run's keys never are.
_SAFE = ("noeviction", "volatile-lru", "volatile-lfu")


def eviction_warning(store: CacheStore) -> str | None:
    """A warning when Redis may evict the suite's own keys, else None."""
    policy = store.config_value("maxmemory-policy")
    if policy is None or policy in _SAFE:
        return None
    what = (
        "the access-frequency set and run history"
        if policy.startswith("allkeys-")
        else "the refresh lock and the records of running runs"
    )
    return (
        f"the cache Redis has maxmemory-policy={policy}: under memory pressure it can "
        f"evict {what}, not only cached entries; prefer volatile-lru or volatile-lfu"
    )
