"""Operational checks of the cache Redis: pure functions over a store, no side effects."""

from __future__ import annotations

from .. import constants as c
from ..listen.flags import missing, with_key_misses
from ..store import CacheStore
from ..store.listen import NOTIFY_CONFIG

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


def persistence_warning(store: CacheStore) -> str | None:
    """A warning when a restart of the cache Redis would forget access frequencies."""
    save = store.config_value("save")
    appendonly = store.config_value("appendonly")
    if save is None or appendonly is None:
        return None  # CONFIG is not allowed here (a managed Redis): nothing to say
    if save.strip() or appendonly == "yes":
        return None
    return (
        "the cache Redis persists nothing (no RDB snapshots, no AOF): a restart forgets "
        "the access frequencies and the run history, and predictive loads start cold"
    )


def listener_seen(store: CacheStore, now_s: float) -> bool:
    """Whether ``warming-tasks listen`` counts this cache's misses now, or did within
    ``LISTEN_SEEN_S``: a site that never runs it is not told about notifications."""
    if store.listener() is not None:
        return True
    beat_at = store.listen_state().beat_at
    return beat_at is not None and now_s - beat_at < c.LISTEN_SEEN_S


def key_miss_warning(store: CacheStore) -> str | None:
    """A problem when the cache Redis publishes no key misses (for a site that listens),
    else None; None too where CONFIG is refused (the listener itself says so)."""
    flags = store.notify_flags()
    if flags is None or not missing(flags):
        return None
    return (
        f"off on the cache Redis ({NOTIFY_CONFIG}={flags!r}), so warming-tasks listen counts "
        f"no misses: set {NOTIFY_CONFIG} to {with_key_misses(flags)!r} in its configuration "
        "(a listener turns them on when it starts and CONFIG SET is allowed)"
    )


def startup_warnings(store: CacheStore) -> list[str]:
    """Every warning an operator should see in the worker log at start."""
    return [w for w in (eviction_warning(store), persistence_warning(store)) if w]
