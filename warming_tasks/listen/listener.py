"""The listener's life: hold the heartbeat, subscribe, turn notifications on, count,
checkpoint every ``WARMING_FLUSH_INTERVAL``, and come back after a lost connection."""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

import redis
from redis.backoff import ExponentialWithJitterBackoff

from .. import constants as c
from ..errors import SettingsError
from ..retries import TRANSIENT
from ..store import CacheStore
from ..store.listen import NOTIFY_CONFIG, MissFeed, ServerMisses
from ..tracker import AccessTracker
from .flags import missing, with_key_misses
from .keys import KeyMap
from .lost import lost_between

log = logging.getLogger("warming_tasks.listen")


@dataclass
class Unsaved:
    """Counts not yet added to the stored counters (kept through a failed save)."""

    counted: int = 0
    ignored: int = 0
    lost: int = 0


class Listener:
    """Counts the cache's key-miss notifications into the frequency set until stopped."""

    def __init__(  # noqa: PLR0913 - what a listener is made of, by name
        self,
        *,
        store: CacheStore,
        feed_client: redis.Redis,
        key_map: KeyMap,
        tracker: AccessTracker,
        interval_s: float,
        where: str,
    ) -> None:
        """``store`` and ``feed_client`` talk to the cache Redis with no retries of their
        own; ``interval_s`` is the time between checkpoints (and tracker flushes);
        ``where`` names the cache in log lines (password masked)."""
        self.store = store
        self.feed_client = feed_client
        self.key_map = key_map
        self.tracker = tracker
        self.interval_s = interval_s
        self.where = where
        self.alive_ttl_s = max(c.LISTEN_ALIVE_CHECKPOINTS * interval_s, c.LISTEN_ALIVE_MIN_S)
        self.token = json.dumps(
            {
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "since": int(time.time()),
                "id": uuid.uuid4().hex[:8],
            }
        )
        self._stop = threading.Event()
        self._probe_key = store.probe_key()
        self._reached = False  # Redis answered once: later failures are retried, not raised
        self._started = False  # listened once: later problems are logged, not raised
        self._failures = 0  # connection failures in a row
        self._holding = False
        self._standing_by = False
        self._settle_until = 0.0  # a heartbeat taken anew: no listening before (monotonic)
        self._last: ServerMisses | None = None  # this process's last checkpoint
        self._last_at = 0.0  # when it was read (monotonic)
        self._received = 0  # notifications received since then
        self._ignored = 0  # of them, keys that are not the application's
        self._unsaved = Unsaved()
        self._probe_seen = True  # the last probe's notification arrived
        self._notify_off = False  # known off: the misses meanwhile count as lost
        self._said: str | None = None  # the last problem logged, said once
        self.totals = Unsaved()  # this process's, for its last line

    def stop(self) -> None:
        """Stop at the next notification or within half a second (a signal handler may call it)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        """Count until stopped. Raises SettingsError when notifications are off and
        cannot be turned on at start, and a Redis error when the first connection
        fails; later failures are retried with backoff, their gaps counted as lost."""
        backoff = ExponentialWithJitterBackoff(base=0.5, cap=c.LISTEN_BACKOFF_CAP_S)
        try:
            while not self.stopped:
                try:
                    if self._hold() and not self.stopped:
                        self._session()
                    else:
                        self._stop.wait(min(1.0, self.alive_ttl_s / 3))
                except TRANSIENT as exc:
                    if not self._reached:
                        raise
                    self._failures += 1
                    delay = backoff.compute(self._failures)
                    log.warning(
                        "lost the cache Redis at %s: %s; trying again in %.1f s",
                        self.where,
                        " ".join(str(exc).split()),
                        delay,
                    )
                    self._stop.wait(delay)
        finally:
            self._finish()

    def _hold(self) -> bool:
        """Hold the heartbeat, or stand by while another listener holds it. False also
        while a heartbeat this listener took anew settles: processes that warm ask
        whether a listener runs only every ``LISTEN_CHECK_S`` and probe the cheaper way
        until they learn it, publishing key misses for absent keys; listening starts
        once they all know, so none of their probes is counted."""
        holder, fresh = self.store.hold_listener(self.token, self.alive_ttl_s)
        self._reached = True
        self._holding = holder == self.token
        if fresh:
            self._settle_until = time.monotonic() + c.LISTEN_SETTLE_S
        if not self._holding and not self._standing_by:
            log.info(
                "another listener counts the key misses of %s (%s): standing by", self.where, holder
            )
        self._standing_by = not self._holding
        return self._holding and time.monotonic() >= self._settle_until

    def _session(self) -> None:
        """One subscription, from its start to a stop, a lost heartbeat or an error."""
        feed = MissFeed(self.feed_client)
        try:
            feed.open(c.LISTEN_PROBE_WAIT_S)
            first = not self._started
            away_s = None if self._last is None else time.monotonic() - self._last_at
            flags = self._turn_on(first)
            counted = self.tracker.flush()  # what was held through a lost connection
            now = self.store.server_misses()
            saved = self._last or self.store.listen_state().checkpoint
            lost = lost_between(saved, now, self._received)
            self._mark(now)
            self._save(now, counted, lost)
            self._probe(feed, first)
            self._started, self._failures = True, 0
            self._said_started(flags, lost, away_s)
            self._count_until_due(feed)
            if self.stopped and self._holding and not feed.drain(self._count, c.LISTEN_DRAIN_S):
                log.warning(
                    "%s did not confirm the unsubscribe within %.0f s: what it still had for "
                    "this listener is counted as lost",
                    self.where,
                    c.LISTEN_DRAIN_S,
                )
        finally:
            feed.close()

    def _count_until_due(self, feed: MissFeed) -> None:
        next_at = time.monotonic() + self.interval_s
        while not self.stopped:
            keys = feed.read(max(0.0, min(0.5, next_at - time.monotonic())))
            if keys:
                self._count(keys)
            if time.monotonic() >= next_at:
                if not self._checkpoint():
                    return
                next_at = time.monotonic() + self.interval_s

    def _count(self, keys: list[bytes]) -> None:
        """Each notification's key: the application's, counted as a miss; else ignored."""
        key_map, track, probe = self.key_map, self.tracker.track, self._probe_key
        ignored = 0
        for raw in keys:
            key = key_map(raw)
            if key is not None:
                track(key, False)
            elif raw == probe:
                self._probe_seen = True
            else:
                ignored += 1
        self._received += len(keys)
        self._ignored += ignored

    def _mark(self, now: ServerMisses) -> None:
        """Redis' miss count read now: what is received from here on comes after it."""
        self._last, self._last_at = now, time.monotonic()
        self._received = 0

    def _turn_on(self, first: bool) -> str | None:
        """Key-miss notifications on, turned on with CONFIG SET where they are off; the
        flags (None where CONFIG is refused). Off and not allowed to turn them on: at
        start a SettingsError, later said once in the log."""
        flags = self.store.notify_flags()
        if flags is None or not missing(flags):
            return flags
        wanted = with_key_misses(flags)
        try:
            self.store.set_notify_flags(wanted)
        except redis.ResponseError as exc:
            self._problem(
                f"key-miss notifications are off on the cache Redis at {self.where} "
                f"({NOTIFY_CONFIG}={flags!r}) and it refuses CONFIG SET "
                f"({' '.join(str(exc).split())}): set {NOTIFY_CONFIG} to {wanted!r} in its "
                "configuration (redis.conf, or your provider's parameter group)",
                first,
            )
            return flags
        log.warning(
            "key-miss notifications turned on at %s: %s was %r, now %r (CONFIG SET, not saved "
            "in redis.conf: set it there too, or the listener turns it on again only once it "
            "reconnects after a restart of Redis, missing what came before)",
            self.where,
            NOTIFY_CONFIG,
            flags,
            wanted,
        )
        self._notify_off = False
        return wanted

    def _problem(self, line: str, first: bool) -> None:
        if first:
            raise SettingsError(line)
        self._notify_off = True
        if line != self._said:
            log.error("%s", line)
            self._said = line

    def _probe(self, feed: MissFeed, first: bool) -> None:
        """Read a key that never exists and wait for its notification: proof that misses
        arrive (where CONFIG cannot say, or a proxy stands between)."""
        self._probe_seen = False
        self.store.miss_probe()
        deadline = time.monotonic() + c.LISTEN_PROBE_WAIT_S
        while not self._probe_seen and time.monotonic() < deadline:
            self._count(feed.read(0.1))
        if not self._probe_seen:
            self._problem(
                f"key-miss notifications do not arrive from the cache Redis at {self.where}: "
                f"set {NOTIFY_CONFIG} to include E and m (e.g. 'Em') in its configuration "
                "(redis.conf, or your provider's parameter group)",
                first,
            )
        else:
            self._notify_off = False

    def _checkpoint(self) -> bool:
        """Keep the heartbeat, then flush the counts and save them with Redis' miss
        count now. False, ending the subscription, where the heartbeat was not kept:

        - another listener holds it: this one stalled past its TTL (a long pause, a
          frozen VM) and the other took over, counting from then (and estimating
          lost what came before); what this one received since its last checkpoint
          is dropped unsaved, or it would be counted twice;
        - it had expired and this call took it anew (a stall with no listener standing
          by, a restart of Redis, an eviction): processes that warm found no listener
          meanwhile and may have probed the cheaper way, so what arrived since the last
          checkpoint is dropped (estimated lost, with the misses until this listener
          listens again, once they know it runs)."""
        holder, fresh = self.store.hold_listener(self.token, self.alive_ttl_s)
        if holder != self.token or fresh:
            self._holding = holder == self.token
            dropped = self.tracker.discard()
            self.totals.ignored += dropped + self._ignored
            self._ignored = 0
            if self._holding:
                self._settle_until = time.monotonic() + c.LISTEN_SETTLE_S
                self._received = 0  # the next start estimates all since the checkpoint lost
                log.warning(
                    "this listener's heartbeat had expired (it stalled for over %.0f s, or Redis "
                    "lost the key): dropped the %d misses it received since its last checkpoint, "
                    "some perhaps the warming's own probes, and listens again in %.0f s",
                    self.alive_ttl_s,
                    dropped,
                    c.LISTEN_SETTLE_S,
                )
                return False
            log.warning(
                "this listener's heartbeat expired (it stalled for over %.0f s): dropped the "
                "%d misses it received since its last checkpoint, which the listener now "
                "holding it counts or estimates lost; another listener took over the key "
                "misses of %s",
                self.alive_ttl_s,
                dropped,
                self.where,
            )
            return False
        # Flushed before Redis' miss count is read: the flush's own lookups come before
        # the count saved, so a listener that takes over later does not estimate them lost.
        counted = self.tracker.flush()
        off = self._notifications_off()
        now = self.store.server_misses()
        saved, received = self._last, self._received
        self._mark(now)
        self._save(now, counted, lost_between(saved, now, received) if off else 0)
        # The next checkpoint sees whether this probe's notification came back.
        self._probe_seen = False
        self.store.miss_probe()
        return True

    def _notifications_off(self) -> bool:
        """Whether the misses since the last checkpoint went unpublished: the last probe
        came back with no notification, and CONFIG (where it may be read) agrees, or
        the notifications are off and could not be turned back on."""
        if self._probe_seen:
            self._notify_off = False
            return False
        flags = self.store.notify_flags()
        if flags is not None and not missing(flags):
            return False  # on: the probe is only behind a backlog
        was_off = self._notify_off
        if flags is not None:
            self._turn_on(first=False)
        else:
            self._problem(
                f"key-miss notifications stopped arriving from the cache Redis at {self.where}: "
                f"set {NOTIFY_CONFIG} to include E and m (e.g. 'Em') in its configuration",
                first=False,
            )
        return was_off or self._notify_off

    def _save(self, now: ServerMisses, counted: int, lost: int) -> None:
        """Add the counts delivered and the misses lost to the stored counters, with this
        checkpoint (kept for the next save if this one fails)."""
        unsaved = self._unsaved
        unsaved.counted += counted
        unsaved.ignored += self._ignored
        unsaved.lost += lost
        self.totals.counted += counted
        self.totals.ignored += self._ignored
        self.totals.lost += lost
        self._ignored = 0
        self.store.save_listen(
            counted=unsaved.counted,
            ignored=unsaved.ignored,
            lost=unsaved.lost,
            server=now,
            beat_at=time.time(),
        )
        self._unsaved = Unsaved()

    def _said_started(self, flags: str | None, lost: int, away_s: float | None) -> None:
        shown = "not readable (CONFIG refused)" if flags is None else repr(flags)
        if away_s is None:
            log.info(
                "listening for key misses on %s (%s=%s): %d misses estimated lost since the "
                "last listener stopped (from Redis' keyspace_misses, an upper bound)",
                self.where,
                NOTIFY_CONFIG,
                shown,
                lost,
            )
        else:
            log.info(
                "listening for key misses again on %s, %.1f s after the last checkpoint: %d "
                "misses estimated lost meanwhile (from Redis' keyspace_misses, an upper bound)",
                self.where,
                away_s,
                lost,
            )

    def _finish(self) -> None:
        """Deliver what is counted, save it, and give the heartbeat up for another
        listener to take at once. Best effort: Redis may be gone.

        On a stop the session unsubscribed and counted what was still on its way
        (``MissFeed.drain``); the misses since the last checkpoint it did not receive
        (after the unsubscribe, or all of them if the drain or the connection failed)
        are estimated lost, as a listener starting later would: none is dropped."""
        try:
            if self._holding and self._last is not None:
                counted = self.tracker.flush()
                now = self.store.server_misses()
                self._save(now, counted, lost_between(self._last, now, self._received))
            if self._holding:
                self.store.release_listener(self.token)
        except redis.RedisError as exc:
            if self._started:
                log.warning(
                    "could not save the last counts to %s: %s",
                    self.where,
                    " ".join(str(exc).split()),
                )
        finally:
            self.tracker.close()
        if not self._started:
            return  # the caller says in one line why it never listened
        log.info(
            "stopped: %d misses counted, %d notifications ignored, %d misses estimated lost",
            self.totals.counted,
            self.totals.ignored,
            self.totals.lost,
        )
