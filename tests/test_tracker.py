"""Access tracking against a real Redis: ranking, decay, bounds, outages, threads, fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import cast

import pytest
import redis

from warming_tasks import constants, tracker
from warming_tasks.cli.embedded import RedisProcess, free_port
from warming_tasks.constants import (
    EPOCH_KEY,
    FLUSH_CHUNK,
    FREQUENCY_KEY,
    RESCALE_KEY,
    WARMED_KEY,
)
from warming_tasks.settings import get_settings, load_settings
from warming_tasks.store import CacheStore, Warmed
from warming_tasks.store.frequency import Applied, Flush, Ranking
from warming_tasks.tracker import AccessTracker


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make(
    url: str, clock: Clock | None = None, max_buffered: int = 1_000_000, **settings: object
) -> AccessTracker:
    settings_ = load_settings(redis_url=url, **settings)
    return AccessTracker(settings_, clock=clock or Clock(), max_buffered=max_buffered)


def ranking(cache: redis.Redis) -> list[str]:
    return [m.decode() for m in cast(list[bytes], cache.zrevrange(FREQUENCY_KEY, 0, -1))]


def test_counts_rank_keys(redis_server: RedisProcess, cache: redis.Redis) -> None:
    t = make(redis_server.url())
    for key, n in (("a", 30), ("b", 20), ("c", 1)):
        for _ in range(n):
            t.track(key)
    assert t.flush() == 51
    assert ranking(cache) == ["a", "b", "c"]
    assert t.buffered() == 0
    assert t.flush() == 0


def test_recent_accesses_outrank_older_ones_of_the_same_count(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    clock = Clock()
    t = make(redis_server.url(), clock, decay_half_life=10)
    for _ in range(5):
        t.track("yesterday")
    t.flush()
    clock.now += 20  # two half-lives later
    for _ in range(5):
        t.track("today")
    t.flush()
    assert ranking(cache) == ["today", "yesterday"]
    store = CacheStore(cache)
    scores = dict(store.top_keys(2))
    assert scores["today"] / scores["yesterday"] == pytest.approx(4.0)


def test_a_burst_long_ago_loses_to_steady_recent_reads(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    clock = Clock()
    t = make(redis_server.url(), clock, decay_half_life=10)
    for _ in range(100):
        t.track("burst")
    t.flush()
    clock.now += 100  # ten half-lives: the burst now weighs like 0.1 of a read
    for _ in range(3):
        t.track("steady")
    t.flush()
    assert ranking(cache) == ["steady", "burst"]


def test_the_set_stays_within_its_bound(redis_server: RedisProcess, cache: redis.Redis) -> None:
    t = make(redis_server.url(), tracker_max_keys=50)
    for i in range(250):
        for _ in range(1 + i % 7):
            t.track(f"k{i}")
    t.flush()
    assert cache.zcard(FREQUENCY_KEY) == 50
    kept = set(ranking(cache))
    assert all(int(k[1:]) % 7 >= 5 for k in kept), "the most read keys are the ones kept"


def test_the_buffer_is_bounded_and_says_when_it_dropped_accesses(
    redis_server: RedisProcess, cache: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    t = make(redis_server.url(), max_buffered=1000)
    for i in range(5000):
        t.track(f"k{i}")
    assert len(t.buffer) == 1000
    assert t.flush() == 1000
    assert ranking(cache)[-1] == "k4000", "the newest accesses are the ones kept"
    assert "access buffer full (1000 accesses between flushes)" in caplog.text
    assert "lower WARMING_FLUSH_INTERVAL (now 5 s)" in caplog.text
    caplog.clear()
    for i in range(1000):
        t.track(f"k{i}")
    t.flush()
    assert "access buffer full" not in caplog.text, "once a minute, not every flush"


def test_counts_survive_an_outage_and_arrive_once_redis_is_back(tmp_path: object) -> None:
    port = free_port()
    t = make(f"redis://127.0.0.1:{port}/0", tracker_max_keys=100)
    for i in range(500):
        t.track(f"k{i % 300}")
    for _ in range(3):
        assert t.flush() == 0  # no exception reaches the caller
    assert len(t.pending) == 100, "what waits for Redis is bounded"
    assert t.buffered() == 100
    t.track("k0")
    with RedisProcess(port=port) as server:
        # The 100 heaviest keys were held (k0..k99, two reads each) and k0 read once
        # more: the 300 reads of the keys dropped to stay within bounds never arrive.
        assert t.flush() == 201
        client = server.client()
        assert client.zcard(FREQUENCY_KEY) == 100
        assert client.zscore(FREQUENCY_KEY, "k0") == pytest.approx(3.0)
        assert t.buffered() == 0


def test_threads_lose_no_access(redis_server: RedisProcess, cache: redis.Redis) -> None:
    t = make(redis_server.url())

    def hammer() -> None:
        for _ in range(20_000):
            t.track("shared")

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for th in threads:
        th.start()
    delivered = 0
    while any(th.is_alive() for th in threads):
        delivered += t.flush()  # flushing while the threads write
    delivered += t.flush()
    assert delivered == 160_000
    assert cache.zscore(FREQUENCY_KEY, "shared") == pytest.approx(160_000)


def test_a_rebase_keeps_scores_finite_and_the_ranking(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    clock = Clock(0)
    a = make(redis_server.url(), clock, decay_half_life=1)
    b = make(redis_server.url(), clock, decay_half_life=1)
    a.track("old")
    a.track("old")
    a.flush()
    b.track("x")
    b.flush()  # b learns epoch 0
    clock.now = 600  # past the rebase point: 2**600 would be close to overflow
    a.track("new")
    a.flush()
    assert int(cache.get(EPOCH_KEY) or 0) == 600
    b.track("fresh")
    b.flush()  # b still holds epoch 0: its flush must be recomputed, not added as 2**600
    scores = dict(CacheStore(cache).top_keys(10))
    assert scores["new"] == pytest.approx(1.0)
    assert scores["fresh"] == pytest.approx(1.0)
    assert ranking(cache)[:2] in (["new", "fresh"], ["fresh", "new"])


def test_a_rescale_stopped_mid_way_is_finished_by_the_next_flush(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    clock = Clock(0)
    a = make(redis_server.url(), clock, decay_half_life=1)
    for i in range(1000):  # 1,000 members, each read i + 1 times: the ranking is by i
        for _ in range(i + 1):
            a.track(f"k{i}")
    a.flush()
    # A process starts moving the scores to epoch 600 and dies after two steps.
    store = CacheStore(cache)
    keys = [RESCALE_KEY, EPOCH_KEY, "{warming}:auto", FREQUENCY_KEY]
    factor = 2.0**-600
    for _ in range(2):
        assert store._run("rescale", keys, ["freq", 200, 0, 600, 600, "", "", repr(factor)]) == 1
    assert int(cache.get(EPOCH_KEY) or 0) == 0, "the epoch moves only when every score has"
    assert ranking(cache)[:3] == ["k999", "k998", "k997"], "the top reads right meanwhile"

    clock.now = 600
    b = make(redis_server.url(), clock, decay_half_life=1)
    b.track("new")
    assert b.flush() == 1  # finds the job, carries it to its end, then adds its read

    assert not cache.exists(RESCALE_KEY)
    assert int(cache.get(EPOCH_KEY) or 0) == 600
    scores = dict(store.top_keys(2000))
    assert scores["new"] == pytest.approx(1.0)
    for i in (0, 399, 400, 999):  # scaled once each, below the cut and above it
        assert scores[f"k{i}"] == pytest.approx((i + 1) * factor)
    assert ranking(cache)[0] == "new"
    assert ranking(cache)[1:4] == ["k999", "k998", "k997"]


@pytest.fixture
def module_tracker(redis_server: RedisProcess) -> Iterator[None]:
    tracker.reset(load_settings(redis_url=redis_server.url(0)))
    yield
    tracker.reset()


@pytest.mark.usefixtures("module_tracker")
def test_a_forked_child_starts_with_an_empty_buffer(cache: redis.Redis) -> None:
    tracker.track_access("parent-key")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report how much it inherited, then flush its own access
        tracker.track_access("child-key")
        inherited = tracker._tracker.buffered()
        delivered = tracker.flush_access()
        os.write(write, f"{inherited} {delivered}".encode())
        os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    report = os.read(read, 100).decode()
    os.close(read)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report == "1 1", "the child holds only its own access"
    assert ranking(cache) == ["child-key"]
    assert tracker.flush_access() == 1
    assert set(ranking(cache)) == {"child-key", "parent-key"}


def test_tracking_is_off_when_prediction_is_disabled(redis_server: RedisProcess) -> None:
    tracker.reset(load_settings(redis_url=redis_server.url(0), enable_prediction=False))
    try:
        tracker.track_access("ignored")
        assert tracker._tracker.buffered() == 0
        assert tracker.flush_access() == 0
    finally:
        tracker.reset()


class DropsOn(CacheStore):
    """A real store whose connection drops while sending the chunk that holds ``key``."""

    def __init__(self, client: redis.Redis, key: str) -> None:
        super().__init__(client)
        self.poison = key

    def add_accesses(self, flush: Flush) -> Ranking | Applied:
        if any(key == self.poison for key, _ in flush.reads):
            raise redis.ConnectionError("connection reset by peer")
        return super().add_accesses(flush)


def test_a_flush_that_fails_midway_owes_only_what_it_did_not_deliver(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    t = make(redis_server.url(), decay_half_life=60)  # one kind of call: chunks counted
    distinct = FLUSH_CHUNK * 10 + 50
    t._store = DropsOn(cache, f"k{distinct - 1}")  # the last of eleven chunks fails
    for i in range(distinct):
        t.track(f"k{i}")
    assert t.flush() == FLUSH_CHUNK * 10, "the accesses of the chunks that arrived"
    assert cache.zcard(FREQUENCY_KEY) == FLUSH_CHUNK * 10
    assert len(t.pending) == 50, "only the last is owed"
    assert f"k{distinct - 1}" in t.pending
    assert "k0" not in t.pending
    t._store = CacheStore(cache)
    assert t.flush() == 50
    assert cache.zcard(FREQUENCY_KEY) == distinct
    rows = cast(list[tuple[bytes, float]], cache.zrange(FREQUENCY_KEY, 0, -1, withscores=True))
    scores = [score for _, score in rows]
    assert min(scores) == max(scores) == pytest.approx(1.0), "no key counted twice"


def test_accesses_held_through_an_outage_keep_their_age() -> None:
    port = free_port()
    clock = Clock(0)
    t = make(f"redis://127.0.0.1:{port}/0", clock, decay_half_life=10)
    t.track("during-outage")
    assert t.flush() == 0
    clock.now = 20  # two half-lives later Redis is back
    t.track("after-outage")
    with RedisProcess(port=port) as server:
        assert t.flush() == 2
        scores = dict(CacheStore(server.client()).top_keys(2))
    assert scores["after-outage"] / scores["during-outage"] == pytest.approx(4.0)


def test_bad_settings_turn_tracking_off_without_raising(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WARMING_DECAY_HALF_LIFE", "-1")
    get_settings.cache_clear()
    tracker.reset()
    try:
        tracker.track_access("a")
        tracker.track_access("b")
        assert tracker._tracker.buffered() == 0
    finally:
        monkeypatch.delenv("WARMING_DECAY_HALF_LIFE")
        get_settings.cache_clear()
        tracker.reset()
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert errors == [
        "warming-tasks: access tracking is off: WARMING_DECAY_HALF_LIFE=-1 is invalid: "
        "expected 'auto' or a number of seconds, at least 1"
    ]


def test_a_flush_settles_warmed_samples_as_read_in_time_or_not(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    store = CacheStore(cache)
    now = time.time()
    # A preload batch warmed a and b for 100 s and c for 1 s; a predictive one, d.
    store.finish_batch(
        "r1", 0, {}, [], warmed=Warmed(0, 3, [("a", 100), ("b", 100), ("c", 1)], now)
    )
    store.finish_batch("r2", 0, {}, [], warmed=Warmed(2, 1, [("d", 1)], now))
    # 50 s later the application reads a and c: c had expired 49 s before.
    t = make(redis_server.url(), Clock(now + 50), flush_interval=5)
    t.track("a")
    t.track("c")
    assert t.flush() == 2
    counters = store.account_counters()
    assert counters["warmed:0"] == 3
    assert (counters["read:0"], counters["expired:0"]) == (1, 1)
    assert counters["expired:2"] == 1, "d expired unread more than two flushes ago: swept"
    pending = cast(list[bytes], cache.zrange(WARMED_KEY, 0, -1))
    assert [m.decode() for m in pending] == ["b"], "b is still pending"


def test_what_is_buffered_at_exit_is_delivered(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    # More than one flush chunk: the exit flush runs after concurrent.futures has
    # shut down, so it must not depend on a thread pool.
    script = (
        "from warming_tasks import track_access\n"
        f"for i in range({FLUSH_CHUNK + 5000}):\n"
        "    track_access(f'exit:{i}')\n"
    )
    env = {**os.environ, "WARMING_REDIS_URL": redis_server.url(), "WARMING_FLUSH_INTERVAL": "3600"}
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert b"flush failed" not in done.stderr, done.stderr
    assert cache.zcard(FREQUENCY_KEY) == FLUSH_CHUNK + 5000


def test_an_idle_spell_does_not_stretch_read_in_time(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    store = CacheStore(cache)
    now = time.time()
    store.finish_batch("r1", 0, {}, [], warmed=Warmed(0, 1, [("a", 60)], now))
    clock = Clock(now)
    t = make(redis_server.url(), clock, flush_interval=5)
    for _ in range(400):  # nothing read for 2000 s: flushes with nothing to send
        clock.now += 5
        assert t.flush() == 0
    t.track("a")  # read 1940 s after its value expired
    assert t.flush() == 1
    assert store.account_counters().get("read:0", 0) == 0
    assert store.account_counters()["expired:0"] == 1


def test_a_value_replaced_before_anyone_read_it_counts_unread(cache: redis.Redis) -> None:
    store = CacheStore(cache)
    now = time.time()
    store.finish_batch("p", 0, {}, [], warmed=Warmed(0, 2, [("a", 600), ("b", 600)], now))
    # A refresh rewrites both before they expire; nobody had read the preloaded values.
    store.finish_batch("r", 0, {}, [], warmed=Warmed(1, 2, [("a", 600), ("b", 600)], now + 500))
    counters = store.account_counters()
    assert (counters["sampled:0"], counters["expired:0"]) == (2, 2)
    assert counters["sampled:1"] == 2
    assert sorted(cache.zrange(WARMED_KEY, 0, -1)) == [b"a", b"b"], "now refresh's samples"


def test_samples_dropped_for_room_count_unread_once_expired(
    cache: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "WARMED_MAX_KEYS", 2)
    store = CacheStore(cache)
    now = time.time()
    store.finish_batch("old", 0, {}, [], warmed=Warmed(2, 1, [("gone", 10)], now - 100))
    store.finish_batch("new", 0, {}, [], warmed=Warmed(0, 2, [("x", 600), ("y", 600)], now))
    counters = store.account_counters()
    assert counters["expired:2"] == 1, "the expired sample made room and counts unread"
    assert sorted(cache.zrange(WARMED_KEY, 0, -1)) == [b"x", b"y"]


class DropsReads(CacheStore):
    """A real store whose connection drops while it adds the hits and misses, once."""

    dropped = 0

    def add_reads(self, hits: int, misses: int) -> None:
        if not self.dropped:
            self.dropped += 1
            raise redis.ConnectionError("connection reset by peer")
        super().add_reads(hits, misses)


def test_hits_and_misses_that_failed_to_arrive_arrive_with_the_next_flush(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    t = make(redis_server.url())
    store = DropsReads(cache)
    t._store = store
    for hit in (True, True, True, False):
        t.track("k", hit=hit)
    assert t.flush() == 4, "the accesses arrived"
    assert store.dropped == 1
    assert store.reads() == (0, 0), "the hits and misses did not"
    t.track("k", hit=False)
    assert t.flush() == 1
    assert store.reads() == (3, 2), "each counted once, the held ones included"
    assert t.flush() == 0
    assert store.reads() == (3, 2)
