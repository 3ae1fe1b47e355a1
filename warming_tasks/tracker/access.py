"""The tracker itself: a bounded buffer of accesses, read counters, and the
flushes that move them into Redis."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from .. import constants as c
from ..maths.decay import access_weight, needs_rebase
from ..maths.throttle import Throttle
from ..settings import Settings, get_settings
from ..store import CacheStore, connect

log = logging.getLogger(__name__)

Clock = Callable[[], float]


class ReadCounter:
    """A count that threads bump without a lock: ``next()`` on ``itertools.count``
    is atomic. ``take`` (one caller at a time) says how many since the last take."""

    def __init__(self) -> None:
        self._count = itertools.count()
        self._takes = 0
        self._taken = 0

    def add(self) -> None:
        next(self._count)

    def take(self) -> int:
        added = next(self._count) - self._takes  # every take bumped it once too
        self._takes += 1
        fresh, self._taken = added - self._taken, added
        return fresh


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
        # Counted but not yet delivered, as decayed weight at time ``_pending_at``:
        # accesses held through an outage keep their age.
        self.pending: dict[str, float] = {}
        self._pending_at = 0.0
        self._pending_accesses = 0
        self.hits, self.misses = ReadCounter(), ReadCounter()
        self._pending_reads = (0, 0)  # hits, misses counted but not yet delivered
        # The earliest moment an access not yet delivered can date from: a warmed
        # key that expired after it counts as read in time.
        self._reads_since = self.clock()
        self._flush_lock = threading.Lock()
        self._store: CacheStore | None = None
        self._epoch: int | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False
        self._full_warnings = Throttle(limit=1, period_s=60)

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = get_settings()
        return self._settings

    def track(self, key: str, hit: bool | None = None) -> None:
        self.buffer.append(key)
        if hit is not None:
            self.count_read(hit)

    def count_read(self, hit: bool) -> None:
        (self.hits if hit else self.misses).add()

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
            now = self.clock()
            popleft = self.buffer.popleft
            size = len(self.buffer)
            drained = Counter([popleft() for _ in range(size)])
            if size >= self.max_buffered:
                self._warn_full()
            pending_hits, pending_misses = self._pending_reads
            reads = (pending_hits + self.hits.take(), pending_misses + self.misses.take())
            self._pending_reads = (0, 0)
            if not drained and not self.pending:
                self._reads_since = now  # every read up to now has been delivered
                self._deliver_reads(reads)
                return 0
            at = self._pending_at if self.pending else now
            weights = self.pending
            factor = access_weight(now, at, self.settings.decay_half_life)
            for key, n in drained.items():
                weights[key] = weights.get(key, 0.0) + n * factor
            accesses = self._pending_accesses + drained.total()
            self.pending, self._pending_accesses = {}, 0
            try:
                self._deliver(weights, at, self._reads_since)
            except Exception as exc:
                self._keep(weights, at, accesses)
                self._pending_reads = reads
                if not self._failing:
                    log.warning("access counts kept in memory, flush failed: %s", exc)
                self._failing = True
                return 0
            if self._failing:
                log.info("access counts delivered again")
            self._failing = False
            self._reads_since = now
            self._deliver_reads(reads)
            return accesses

    def _deliver_reads(self, reads: tuple[int, int]) -> None:
        """Add the hits and misses counted to Redis; kept for the next flush if it fails."""
        if not any(reads):
            return
        try:
            self._store_for_flush().add_reads(*reads)
        except Exception:
            self._pending_reads = reads  # the access counts said so already, if down

    def _warn_full(self) -> None:
        # A full deque drops its oldest accesses as new ones arrive: say so, once a minute.
        allowed, held = self._full_warnings.allow()
        if allowed:
            log.warning(
                "access buffer full (%d accesses between flushes): the oldest may have "
                "been dropped; lower WARMING_FLUSH_INTERVAL (now %g s)%s",
                self.max_buffered,
                self.settings.flush_interval,
                f" ({held} more times since the last warning)" if held else "",
            )

    def _keep(self, weights: dict[str, float], at: float, accesses: int) -> None:
        """Hold what was not delivered, bounded to the heaviest ``tracker_max_keys``."""
        limit = self.settings.tracker_max_keys
        if len(weights) > limit:
            weights = dict(heapq.nlargest(limit, weights.items(), key=lambda kv: kv[1]))
        self.pending, self._pending_at, self._pending_accesses = weights, at, accesses

    def _store_for_flush(self) -> CacheStore:
        if self._store is None:
            settings = self.settings
            self._store = CacheStore(connect(settings, for_tracker=True), settings.key_prefix)
        return self._store

    def _deliver(self, weights: dict[str, float], at: float, reads_since: float) -> None:
        """Add ``weights`` (decayed weight at time ``at``) to Redis, chunk by chunk.

        Delivered chunks leave ``weights``, so after a failure it holds exactly
        what is still owed. A flush of many chunks keeps two in flight, so this
        process packs the next chunk while Redis applies the last one.
        """
        store = self._store_for_flush()
        settings = self.settings
        half_life = settings.decay_half_life
        known_epoch = self._current_epoch(store, at, half_life)
        # Other processes may still hold reads of a sample that has just expired:
        # give their flushes time to arrive before calling it unread.
        sweep_before = self.clock() - c.SWEEP_GRACE_FLUSHES * settings.flush_interval
        members = list(weights.items())
        chunks = [members[i : i + c.FLUSH_CHUNK] for i in range(0, len(members), c.FLUSH_CHUNK)]

        def send(chunk: list[tuple[str, float]]) -> None:
            # What an earlier chunk learned of another process's epoch, if anything.
            epoch = known_epoch if self._epoch is None else self._epoch
            for attempt in range(2):  # a second try after learning another process's epoch
                factor = access_weight(at, epoch, half_life)
                scaled = {key: w * factor for key, w in chunk}
                stored = store.add_accesses(
                    scaled, epoch, settings.tracker_max_keys, reads_since, sweep_before
                )
                if stored is None:
                    return
                epoch = self._epoch = stored
                if attempt:
                    raise RuntimeError("the decay epoch changed twice during one flush")

        if len(chunks) == 1:
            send(chunks[0])
            weights.clear()
            return
        with ThreadPoolExecutor(c.FLUSH_IN_FLIGHT, thread_name_prefix="warming-flush") as pool:
            self._send_overlapped(chunks, send, pool, weights)

    @staticmethod
    def _send_overlapped(
        chunks: list[list[tuple[str, float]]],
        send: Callable[[list[tuple[str, float]]], None],
        pool: ThreadPoolExecutor,
        weights: dict[str, float],
    ) -> None:
        """Send ``chunks`` with at most ``FLUSH_IN_FLIGHT`` unanswered; stop at the first
        failure. A pool that takes no more work (the interpreter is exiting: atexit
        flushes come after concurrent.futures shuts down) sends the rest in turn."""
        in_flight: deque[tuple[list[tuple[str, float]], Future[None] | None]] = deque()

        def settle() -> None:
            chunk, sent = in_flight.popleft()
            if sent is None:
                send(chunk)
            else:
                sent.result()
            for key, _ in chunk:
                del weights[key]

        try:
            for chunk in chunks:
                try:
                    in_flight.append((chunk, pool.submit(send, chunk)))
                except RuntimeError:
                    in_flight.append((chunk, None))
                while len(in_flight) >= c.FLUSH_IN_FLIGHT:
                    settle()
            while in_flight:
                settle()
        finally:
            # After a failure: what is still queued is not sent, what is running ends.
            for _, sent in in_flight:
                if sent is not None:
                    sent.cancel()
            for chunk, sent in in_flight:
                if sent is not None and not sent.cancelled() and sent.exception() is None:
                    for key, _ in chunk:
                        del weights[key]

    def _current_epoch(self, store: CacheStore, now: float, half_life: float) -> int:
        if self._epoch is None:
            self._epoch = store.epoch() or int(now)
        if needs_rebase(now, self._epoch, half_life):
            new_epoch = int(now)
            store.rebase(self._epoch, new_epoch, access_weight(self._epoch, new_epoch, half_life))
            self._epoch = store.epoch() or new_epoch
        return self._epoch
