"""Access counting for predictive loads.

``track_access`` only appends the key to an in-process buffer (a deque append is
atomic under the GIL, so no lock sits on the application's hot path), and counts
a hit or a miss when the caller knows which (``itertools.count`` is atomic too). A daemon
thread drains the buffer every ``WARMING_FLUSH_INTERVAL`` seconds and adds
forward-decayed weights to one Redis sorted set in a few script calls; what
cannot be sent stays buffered, bounded, and goes with the next flush.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Callable

from ..errors import SettingsError
from ..settings import Settings, get_settings
from .access import AccessTracker, ReadCounter

__all__ = [
    "AccessTracker",
    "ReadCounter",
    "counter_for",
    "flush_access",
    "reset",
    "track_access",
]

log = logging.getLogger(__name__)

_tracker = AccessTracker()


def _first_access(key: str) -> None:
    global _record, _count_read  # noqa: PLW0603 - the hot path swaps functions, not flags
    try:
        settings = _tracker.settings
    except SettingsError as exc:
        # The application must never fail because of its cache warmer: say it once.
        log.error("warming-tasks: access tracking is off: %s", exc)
        _record = _ignore
        return
    if not settings.enable_prediction:
        _record = _ignore
        return
    _tracker.start()
    _count_read = _tracker.count_read
    _record = _tracker.buffer.append
    _record(key)


def _ignore(key: str) -> None:
    return None


def _ignore_read(hit: bool) -> None:
    return None


_record: Callable[[str], None] = _first_access
_count_read: Callable[[bool], None] = _ignore_read


def track_access(key: str, hit: bool | None = None) -> None:
    """Count one read of ``key`` by the application: in memory, no network round trip.

    ``hit`` says whether the read found the key in the cache, when the caller knows:
    ``stats`` then shows the application's hit ratio on tracked reads."""
    _record(key)
    if hit is not None:
        _count_read(hit)


def flush_access() -> int:
    """Push the buffered accesses to Redis now; the number delivered. Never raises."""
    return _tracker.flush()


# The trackers of cache backends that count their reads into their own cache's
# Redis (``counter_for``), one per Redis URL in this process.
_by_location: dict[str, AccessTracker] = {}
_by_location_lock = threading.Lock()
Counter = Callable[[str, "bool | None"], None]


def counter_for(
    location: str | None, parity: tuple[str, str] | None = None, prefix: str | None = None
) -> Counter:
    """How a cache backend whose Redis is at ``location`` counts one read: into a
    tracker that flushes to that Redis, unless ``WARMING_REDIS_URL`` (environment or
    Django's ``WARMING``) names the Redis for every process; then as ``track_access``.
    ``parity`` (backend, JSON of how it names a probe key) is recorded with the
    first flush, for ``check``; ``prefix``, the cache's own key prefix, goes before
    the suite's keys unless ``WARMING_KEY_PREFIX`` is set. Never raises: with
    settings that cannot be read, tracking is off (said once)."""
    try:
        settings = get_settings()
    except SettingsError as exc:
        log.error("warming-tasks: access tracking is off: %s", exc)
        return _ignore_counted
    if not settings.enable_prediction:
        return _ignore_counted
    if location is None or "redis_url" in settings.model_fields_set:
        if parity is not None:
            _tracker.parity = parity
        return track_access
    with _by_location_lock:
        tracker = _by_location.get(location)
        if tracker is None:
            update: dict[str, object] = {"redis_url": location}
            if prefix is not None and "key_prefix" not in settings.model_fields_set:
                update["key_prefix"] = prefix
            tracker = AccessTracker(settings.model_copy(update=update))
            _by_location[location] = tracker
    if parity is not None:
        tracker.parity = parity
    tracker.start()
    return tracker.track


def _ignore_counted(key: str, hit: bool | None = None) -> None:
    return None


def reset(settings: Settings | None = None) -> None:
    """Drop what is buffered, and use ``settings`` (or re-read them) from the next access."""
    global _record, _count_read
    _tracker.stop()
    _tracker._settings = settings
    _tracker._reset()
    _record, _count_read = _first_access, _ignore_read


def _after_fork_in_child() -> None:
    # A forked web worker starts with an empty buffer, its own client and no
    # flusher thread (threads do not survive fork); its settings are the parent's.
    reset(_tracker._settings)
    for tracker in _by_location.values():
        tracker.stop()
        tracker._reset()
        tracker.start()  # its backend counts on in this process: a flusher of its own


def _flush_all() -> None:
    flush_access()
    for tracker in list(_by_location.values()):
        tracker.flush()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_flush_all)
