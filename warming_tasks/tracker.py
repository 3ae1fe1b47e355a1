"""Access counting for predictive loads.

``track_access`` only appends the key to an in-process buffer (a deque append is
atomic under the GIL, so no lock sits on the application's hot path). A daemon
thread drains the buffer every ``WARMING_FLUSH_INTERVAL`` seconds and adds
forward-decayed weights to one Redis sorted set in a few script calls; what
cannot be sent stays buffered, bounded, and goes with the next flush.
"""

from __future__ import annotations

import atexit
import heapq
import logging
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Callable

from . import constants as c
from .decay import access_weight, needs_rebase
from .settings import Settings, get_settings
from .store import CacheStore, connect

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class AccessTracker:
    """A bounded buffer of accesses and the flushes that move it into Redis."""

    def __init__(
        self,
        settings: Settings | None = None,
        clock: Clock = time.time,
        max_buffered: int = c.TRACKER_BUFFER_MAX_ACCESSES,
    ) -> None:
        self._settings = settings
        self.clock = clock
        self.max_buffered = max_buffered
        self._reset()

    def _reset(self) -> None:
        self.buffer: deque[str] = deque(maxlen=self.max_buffered)
        self.pending: Counter[str] = Counter()  # counted but not yet delivered
        self._flush_lock = threading.Lock()
        self._store: CacheStore | None = None
        self._epoch: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    def track(self, key: str) -> None:
        self.buffer.append(key)

    def buffered(self) -> int:
        """Accesses and distinct pending keys held in this process."""
        return len(self.buffer) + len(self.pending)

    def start(self) -> None:
        """Start the background flusher (once per process)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._flush_periodically, name="warming-tasks-flush", daemon=True
            )
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.settings.flush_interval):
            self.flush()

    def flush(self) -> int:
        """Deliver what is buffered now; the number of accesses delivered. Never raises."""
        with self._flush_lock:
            popleft = self.buffer.popleft
            counts = Counter([popleft() for _ in range(len(self.buffer))])
            counts.update(self.pending)
            self.pending = Counter()
            if not counts:
                return 0
            try:
                self._deliver(counts)
            except Exception as exc:
                self._keep(counts)
                if not self._failing:
                    log.warning("access counts kept in memory, flush failed: %s", exc)
                self._failing = True
                return 0
            if self._failing:
                log.info("access counts delivered again")
            self._failing = False
            return sum(counts.values())

    def _keep(self, counts: Counter[str]) -> None:
        limit = self.settings.tracker_max_keys
        if len(counts) > limit:
            counts = Counter(dict(heapq.nlargest(limit, counts.items(), key=lambda kv: kv[1])))
        self.pending = counts

    def _store_for_flush(self) -> CacheStore:
        if self._store is None:
            settings = self.settings
            self._store = CacheStore(connect(settings, for_tracker=True), settings.key_prefix)
        return self._store

    def _deliver(self, counts: Counter[str]) -> None:
        store = self._store_for_flush()
        settings = self.settings
        half_life = settings.decay_half_life
        now = self.clock()
        epoch = self._current_epoch(store, now, half_life)
        members = list(counts.items())
        for start in range(0, len(members), c.FLUSH_CHUNK):
            chunk = members[start : start + c.FLUSH_CHUNK]
            for _ in range(2):  # a second try after learning another process's epoch
                factor = access_weight(now, epoch, half_life)
                weights = {key: n * factor for key, n in chunk}
                stored = store.add_accesses(weights, epoch, settings.tracker_max_keys)
                if stored is None:
                    break
                epoch = self._epoch = stored

    def _current_epoch(self, store: CacheStore, now: float, half_life: float) -> int:
        if self._epoch is None:
            self._epoch = store.epoch() or int(now)
        if needs_rebase(now, self._epoch, half_life):
            new_epoch = int(now)
            store.rebase(self._epoch, new_epoch, access_weight(self._epoch, new_epoch, half_life))
            self._epoch = store.epoch() or new_epoch
        return self._epoch


_tracker = AccessTracker()


def _first_access(key: str) -> None:
    global _record
    settings = _tracker.settings  # raises SettingsError once, loudly, on bad settings
    if not settings.enable_prediction:
        _record = _ignore
        return
    _tracker.start()
    _record = _tracker.buffer.append
    _record(key)


def _ignore(key: str) -> None:
    return None


_record: Callable[[str], None] = _first_access


def track_access(key: str) -> None:
    """Count one read of ``key`` by the application: in memory, no network round trip."""
    _record(key)


def flush_access() -> int:
    """Push the buffered accesses to Redis now; the number delivered. Never raises."""
    return _tracker.flush()


def reset(settings: Settings | None = None) -> None:
    """Drop what is buffered, and use ``settings`` (or re-read them) from the next access."""
    global _record
    _tracker.stop()
    _tracker._settings = settings
    _tracker._reset()
    _record = _first_access


def _after_fork_in_child() -> None:
    # A forked web worker starts with an empty buffer, its own client and no
    # flusher thread (threads do not survive fork); its settings are the parent's.
    reset(_tracker._settings)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(flush_access)
