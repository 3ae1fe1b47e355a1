"""The tracker itself: a bounded buffer of accesses, read counters, and the
flushes that move them into Redis."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
import weakref
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import cast

from .. import constants as c
from ..maths.decay import access_weight, needs_rebase
from ..maths.throttle import Throttle
from ..maths.tuning import (
    CANDIDATES_S,
    SAMPLE_ONE_IN,
    START_S,
    Belief,
    in_sample,
    next_half_life,
    sample_rank_limit,
)
from ..settings import Settings, get_settings
from ..store import CacheStore, connect
from ..store.frequency import Flush, Ranking

log = logging.getLogger(__name__)

Clock = Callable[[], float]


def _wall_clock() -> float:
    # time.time looked up at each call: a replay under a patched time.time() is honoured.
    return time.time()


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
        clock: Clock | None = None,
        max_buffered: int = c.TRACKER_BUFFER_MAX_ACCESSES,
    ) -> None:
        self._settings = settings
        self.clock: Clock = clock or _wall_clock
        self.max_buffered = max_buffered
        self._reset()

    def _reset(self) -> None:
        self.buffer: deque[str] = deque(maxlen=self.max_buffered)
        # Counted but not yet delivered, as decayed weight at time ``_pending_at``:
        # accesses held through an outage keep their age.
        self.pending: dict[str, float] = {}
        self._pending_at = 0.0
        # The accesses behind each pending weight, so a flush reports exactly how
        # many reached Redis (weights are decayed, counts are not).
        self._pending_counts: Counter[str] = Counter()
        self.hits, self.misses = ReadCounter(), ReadCounter()
        self._pending_reads = (0, 0)  # hits, misses counted but not yet delivered
        # The earliest moment an access not yet delivered can date from: a warmed
        # key that expired after it counts as read in time.
        self._reads_since = self.clock()
        self._flush_lock = threading.Lock()
        self._store: CacheStore | None = None
        self._ranking: Ranking | None = None  # what this process scores against
        self.belief: Belief | None = None  # auto's, as the last flush left it
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._failing = False
        # (backend, JSON) that an application cache backend asked to record once:
        # how it names a probe key (``PARITY_KEY``).
        self.parity: tuple[str, str] | None = None
        self._parity_sent = False
        self._full_warnings = Throttle(limit=1, period_s=60)
        self._conversion_warnings = Throttle(limit=1, period_s=60)

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

    def discard(self) -> int:
        """Drop what was tracked since the last flush (accesses and read counts): the
        number of accesses dropped. What a failed flush kept stays owed."""
        with self._flush_lock:
            dropped = len(self.buffer)
            self.buffer.clear()
            self.hits.take()
            self.misses.take()
            return dropped

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

    def close(self) -> None:
        """Stop the background flusher and close this tracker's connection."""
        self.stop()
        if self._store is not None:
            self._store.client.close()
            self._store = None

    def _flush_periodically(self) -> None:
        while not self._stop.wait(self.settings.flush_interval):
            self.flush()

    def flush(self) -> int:
        """Deliver what is buffered now; the number of accesses that reached Redis in
        this call (those of the keys delivered before a failure too). Never raises."""
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
            weights: dict[str, float]
            if self.pending and needs_rebase(now, self._pending_at, self.half_life_s):
                # Held so long (512 half-lives) that it weighs nothing now.
                self.pending, self._pending_counts = {}, Counter()
            if self.pending:
                at, weights = self._pending_at, self.pending
                factor = access_weight(now, at, self.half_life_s)
                for key, n in drained.items():
                    weights[key] = weights.get(key, 0.0) + n * factor
            else:  # whole reads: sent as integers, the cheapest to encode
                at, weights = now, cast(dict[str, float], dict(drained))
            counts = self._pending_counts + drained
            self.pending, self._pending_counts = {}, Counter()
            try:
                self._deliver(weights, at, self._reads_since)
            except Exception as exc:
                # ``weights`` holds what is still owed: the rest reached Redis.
                delivered = counts.total() - sum(counts[key] for key in weights)
                self._keep(weights, at, counts)
                self._pending_reads = reads
                if not self._failing:
                    log.warning("access counts kept in memory, flush failed: %s", exc)
                self._failing = True
                return delivered
            if self._failing:
                log.info("access counts delivered again")
            self._failing = False
            self._send_parity()
            self._reads_since = now
            self._deliver_reads(reads)
            return counts.total()

    def _send_parity(self) -> None:
        if self.parity is None or self._parity_sent:
            return
        store = self._store_for_flush()
        try:
            store.client.hset(store._own(c.PARITY_KEY), *self.parity)
        except Exception:
            return  # the next flush tries again
        self._parity_sent = True

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

    def _keep(self, weights: dict[str, float], at: float, counts: Counter[str]) -> None:
        """Hold what was not delivered, bounded to the heaviest ``tracker_max_keys``
        (the accesses of the keys dropped are dropped with them)."""
        limit = self.settings.tracker_max_keys
        if len(weights) > limit:
            weights = dict(heapq.nlargest(limit, weights.items(), key=lambda kv: kv[1]))
        self.pending, self._pending_at = weights, at
        self._pending_counts = Counter({key: counts[key] for key in weights})

    def _store_for_flush(self) -> CacheStore:
        if self._store is None:
            settings = self.settings
            client = connect(settings, for_tracker=True)
            # A tracker dropped without close() still closes its connection.
            weakref.finalize(self, client.close)
            self._store = CacheStore(client, settings.key_prefix)
        return self._store

    @property
    def half_life_s(self) -> float:
        """The half-life reads are scored with now: the setting, or auto's choice."""
        fixed = self.settings.decay_half_life
        if fixed != "auto":
            return fixed
        held = self._ranking.half_life_s if self._ranking is not None else None
        return held or START_S

    def _deliver(self, weights: dict[str, float], at: float, reads_since: float) -> None:
        """Add ``weights`` (decayed reads at time ``at``) to Redis, chunk by chunk.

        Delivered chunks leave ``weights``, so after a failure it holds exactly
        what is still owed. A flush of many chunks keeps two in flight, so this
        process packs the next chunk while Redis applies the last one.
        """
        store = self._store_for_flush()
        settings = self.settings
        auto = settings.auto_half_life
        self._current_ranking(store, at)
        # Other processes may still hold reads of a sample that has just expired:
        # give their flushes time to arrive before calling it unread.
        sweep_before = self.clock() - c.SWEEP_GRACE_FLUSHES * settings.flush_interval
        members = list(weights.items())
        members, sampled = _split_sampled(members) if auto else (members, [])
        sampled_keys = {key for key, _ in sampled}
        chunks = _chunks(members, c.FLUSH_CHUNK)
        # A sampled read costs each candidate half-life a rank and an add: fewer a call.
        chunks += _chunks(sampled, c.FLUSH_SAMPLED_CHUNK)
        sample_top = sample_rank_limit(settings.predictive_limit)
        sample_max = -(-settings.tracker_max_keys // SAMPLE_ONE_IN)

        def call(chunk: list[tuple[str, float]], ranking: Ranking) -> Flush:
            assert ranking.epoch is not None
            h = ranking.half_life_s or self.half_life_s
            flush = Flush(
                epoch=ranking.epoch,
                half_life_s=h,
                per_read=access_weight(at, ranking.epoch, h),
                max_keys=settings.tracker_max_keys,
                read_since=reads_since,
                sweep_before=sweep_before,
                now=at,
                reads=chunk,
            )
            sampled = [i for i, (key, _) in enumerate(chunk, 1) if key in sampled_keys]
            if auto and ranking.sample_epoch is not None and sampled:
                flush.sample_epoch = ranking.sample_epoch
                flush.sample_per_read = tuple(
                    access_weight(at, ranking.sample_epoch, candidate) for candidate in CANDIDATES_S
                )
                flush.sampled = sampled
                flush.sample_top, flush.sample_max_keys = sample_top, sample_max
            return flush

        snapshot_due: list[bool] = []

        def send(chunk: list[tuple[str, float]]) -> None:
            for attempt in range(2):  # a second try after learning another process's ranking
                ranking = self._ranking
                assert ranking is not None
                reply = store.add_accesses(call(chunk, ranking))
                if not isinstance(reply, Ranking):
                    if reply.belief is not None:
                        self.belief = reply.belief
                    if reply.snapshot_due:
                        snapshot_due.append(True)
                    return
                if auto:
                    self._ranking = reply
                else:
                    self._ranking = self._adopt(store, reply, at)
                if attempt:
                    raise RuntimeError("the decay epoch changed twice during one flush")

        if len(chunks) == 1:
            send(chunks[0])
            weights.clear()
        else:
            with ThreadPoolExecutor(c.FLUSH_IN_FLIGHT, thread_name_prefix="warming-flush") as pool:
                self._send_overlapped(chunks, send, pool, weights)
        if snapshot_due:
            store.snapshot_samples()
        if auto:
            self._retune(store, at)

    def _adopt(self, store: CacheStore, stored: Ranking, now: float) -> Ranking:
        """With a fixed half-life, scores stored under another one (auto's, or another
        setting's) are converted first: decayed counts at a new epoch."""
        fixed = self.half_life_s
        held = stored.half_life_s
        if stored.epoch is None or held is None or held == fixed:
            return Ranking(stored.epoch)
        if _rescale(store, stored.epoch, held, now, fixed):
            allowed, held_back = self._conversion_warnings.allow()
            if allowed:
                # Rare after a change of setting; often, if processes disagree.
                log.warning(
                    "access ranking converted from a half-life of %g s to this process's "
                    "WARMING_DECAY_HALF_LIFE=%g: every process that tracks or warms should "
                    "use the same setting%s",
                    held,
                    fixed,
                    f" ({held_back} more conversions since the last warning)" if held_back else "",
                )
        return Ranking(store.ranking().epoch)

    def _retune(self, store: CacheStore, now: float) -> None:
        """Move the frequency set to the half-life the evidence favours, if it is time."""
        ranking, belief = self._ranking, self.belief
        if ranking is None or ranking.epoch is None or belief is None:
            return
        wanted = next_half_life(belief, now)
        if wanted is None:
            return
        held = belief.half_life_s
        if _rescale(store, ranking.epoch, held, now, wanted):
            log.info("access ranking: half-life %g s -> %g s", held, wanted)
        self._ranking = None  # read what is stored now, whoever moved it

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

    def _current_ranking(self, store: CacheStore, now: float) -> None:
        """Know what to score against: the stored epoch (and auto's half-life and
        the candidates' epoch), rebased first where one nears a double's range."""
        auto = self.settings.auto_half_life
        if self._ranking is None:
            stored = store.ranking()
            self._ranking = Ranking(
                stored.epoch or int(now),
                stored.scored_with("auto") if auto else None,
                (stored.sample_epoch or int(now)) if auto else None,
            )
        ranking = self._ranking
        assert ranking.epoch is not None
        h = self.half_life_s
        if needs_rebase(now, ranking.epoch, h):
            _rescale(store, ranking.epoch, h, now)
            self._ranking = None
        sample_epoch = ranking.sample_epoch
        if sample_epoch is not None and needs_rebase(now, sample_epoch, min(CANDIDATES_S)):
            new_epoch = max(int(now), sample_epoch)
            factors = [access_weight(sample_epoch, new_epoch, h_c) for h_c in CANDIDATES_S]
            store.rebase_samples(sample_epoch, new_epoch, factors)
            self._ranking = None
        if self._ranking is None:
            self._current_ranking(store, now)


def _chunks(members: list[tuple[str, float]], size: int) -> list[list[tuple[str, float]]]:
    return [members[i : i + size] for i in range(0, len(members), size)]


def _split_sampled(
    members: list[tuple[str, float]],
) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    """The members not sampled, and those sampled: the candidates' evidence comes
    from the sampled alone, so they go in flush calls of their own and the other
    calls skip that work altogether."""
    plain: list[tuple[str, float]] = []
    sampled: list[tuple[str, float]] = []
    for member in members:
        (sampled if in_sample(member[0]) else plain).append(member)
    return plain, sampled


def _rescale(
    store: CacheStore, epoch: int, held: float, now: float, wanted: float | None = None
) -> bool:
    """Move the frequency set's epoch to ``now`` (its scores become decayed counts
    there), and with ``wanted`` its half-life too; False if another process moved
    it first."""
    # Never back in time (a clock behind the one that set the epoch, or reads held
    # through an outage): a factor above 1 would break the stepped rescale.
    new_epoch = max(int(now), epoch)
    factor = access_weight(epoch, new_epoch, held)
    if wanted is None:
        return store.rebase(epoch, new_epoch, factor)
    return store.rebase(epoch, new_epoch, factor, (held, wanted), now)
