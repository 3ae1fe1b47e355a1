"""``WARMING_DECAY_HALF_LIFE=auto`` and refresh's ``skipped_unread``, from the
outside: reads replayed through ``track_access``/``flush_access`` under a patched
``time.time()``, then what ``stats`` says and what the real worker warms."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from warming_tasks import flush_access, track_access, tracker
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.maths.tuning import CANDIDATES_S
from warming_tasks.settings import get_settings, load_settings
from warming_tasks.store import CacheStore
from warming_tasks.warmer import read_floor

from .helpers import celery_env, cli
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = [pytest.mark.integration, pytest.mark.in_process(WARMING_BATCH_SIZE=100)]

FLUSH_S = 5.0


class Replay:
    """The application's reads at a simulated time: ``time.time()`` patched, the
    module API called as application code calls it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, server: RedisProcess, **env: str) -> None:
        self.now = self.real_start = time.time()
        monkeypatch.setattr(time, "time", lambda: self.now)
        monkeypatch.setenv("WARMING_REDIS_URL", server.url(0))
        monkeypatch.setenv("WARMING_FLUSH_INTERVAL", "3600")  # flushed below, on the clock
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        tracker.reset()

    def read(self, keys: list[str], per_s: float) -> None:
        """Read ``keys`` in turn at ``per_s``, flushing every FLUSH_S as the flusher would."""
        next_flush = self.now + FLUSH_S
        for key in keys:
            self.now += 1 / per_s
            if self.now >= next_flush:
                flush_access()
                next_flush += FLUSH_S
            track_access(key)
        flush_access()


@pytest.fixture
def replay(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisProcess, cache: redis.Redis
) -> Iterator[Replay]:
    yield Replay(monkeypatch, redis_server)
    tracker.reset()
    get_settings.cache_clear()


def zipf_reads(rng: random.Random, ranked: list[str], n: int) -> list[str]:
    weights = [1 / rank for rank in range(1, len(ranked) + 1)]
    return rng.choices(ranked, weights=weights, k=n)


def half_life(store: CacheStore) -> float:
    belief = store.belief()
    assert belief is not None, "auto has flushed at least once"
    return belief.half_life_s


def test_auto_shortens_its_memory_under_drift_and_lengthens_it_when_stable(
    replay: Replay, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    rng = random.Random(15)
    ranked = [f"item:{i}" for i in range(3_000)]
    store = CacheStore(cache)
    fresh = iter(range(10**6))
    for _ in range(120):  # 20 minutes of drift: every 10 s, a fifth of the top 100 is new
        for rank in rng.sample(range(100), 20):
            ranked[rank] = f"new:{next(fresh)}"
        replay.read(zipf_reads(rng, ranked, 1_000), per_s=100)
    drifting = half_life(store)
    assert drifting <= CANDIDATES_S[2], drifting
    drift_ended = replay.now

    # Then the same popularity for three hours: as the stale reads of the drift fade
    # from the long memories, they predict best again, and auto follows.
    seen = [drifting]
    for _ in range(6):
        replay.read(zipf_reads(rng, ranked, 180_000), per_s=100)
        seen.append(half_life(store))
    assert seen == sorted(seen), seen
    stable = seen[-1]
    assert stable >= 8 * drifting, seen

    data = stats(celery_env(redis_server), top=5)
    assert data["half_life"]["mode"] == "auto"
    assert data["half_life"]["seconds"] == stable == data["half_life_s"]
    assert drift_ended < data["half_life"]["since"] <= replay.now, "changed since the drift"
    assert data["half_life"]["evidence_reads"] > 0
    ratios = data["half_life"]["hit_ratio_by_candidate"]
    assert set(ratios) == {f"{h:g}" for h in CANDIDATES_S}
    assert all(0 < r <= 1 for r in ratios.values())


def cli_json(*args: str, env: dict[str, str]) -> dict[str, Any]:
    """A command's ``--json`` output, after it exited 0."""
    done = cli(*args, "--json", env=env)
    assert done.returncode == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def stats(env: dict[str, str], top: int) -> dict[str, Any]:
    return cli_json("stats", "--top", str(top), env=env)


def test_predictive_load_warms_exactly_what_stats_top_shows(
    replay: Replay, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    rng = random.Random(7)
    ranked = [f"key:{i}" for i in range(400)]
    rng.shuffle(ranked)
    replay.read(zipf_reads(rng, ranked, 20_000), per_s=50)
    top = [row["key"] for row in stats(celery_env(redis_server), top=40)["top_keys"]]
    assert len(top) == 40

    cache.hset(CONFIG_KEY, mapping={"hot_keys": "400", "ttl": "3600"})
    done = cli("predict", "--limit", "40", "--json", env=celery_env(redis_server))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loaded"] == 40
    warmed = {k.decode() for k in cache.scan_iter("key:*")}
    assert warmed == set(top)
    assert all(cache.get(k) == value_for(k).encode() for k in top)


def test_auto_tunes_for_the_warm_set_predictive_loads_read(
    replay: Replay, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    """Every sampled key of 400 ranks in a top 1,000: each candidate held every read
    but those of the first flush (judged against empty sets). After a predictive
    load of 40, the new evidence is about a top 40, which holds fewer of the reads
    (tuned for 1,000 still, the ratios would climb towards 1), and stats says
    which N auto tunes for."""
    rng = random.Random(3)
    ranked = [f"key:{i}" for i in range(400)]
    replay.read(zipf_reads(rng, ranked, 20_000), per_s=50)
    before = stats(celery_env(redis_server), top=1)["half_life"]
    assert before["tuned_for_top"] == 1000
    assert all(r > 0.8 for r in before["hit_ratio_by_candidate"].values()), before

    cache.hset(CONFIG_KEY, mapping={"hot_keys": "400", "ttl": "3600"})
    done = cli("predict", "--limit", "40", "--json", env=celery_env(redis_server))
    assert done.returncode == 0, done.stderr
    replay.read(zipf_reads(rng, ranked, 40_000), per_s=50)
    after = stats(celery_env(redis_server), top=1)["half_life"]
    assert after["tuned_for_top"] == 40
    for h, ratio in after["hit_ratio_by_candidate"].items():
        assert ratio < before["hit_ratio_by_candidate"][h] - 0.05, (before, after)


def test_a_numeric_half_life_keeps_one_fixed_ranking(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    fixed = Replay(monkeypatch, redis_server, WARMING_DECAY_HALF_LIFE="600")
    try:
        fixed.read(["a"] * 30 + ["b"] * 20, per_s=10)
    finally:
        tracker.reset()
        get_settings.cache_clear()
    assert not list(cache.scan_iter("{warming}:sample:*")), "no candidates, no evidence"
    data = stats(celery_env(redis_server, WARMING_DECAY_HALF_LIFE="600"), top=2)
    assert data["half_life"] == {"mode": "fixed", "seconds": 600.0}
    assert [row["key"] for row in data["top_keys"]] == ["a", "b"]
    assert data["top_keys"][0]["score"] == pytest.approx(30, rel=0.05)


def test_a_process_with_another_half_life_converts_the_scores_instead_of_mixing_them(
    monkeypatch: pytest.MonkeyPatch, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    short = Replay(monkeypatch, redis_server, WARMING_DECAY_HALF_LIFE="30")
    short.now -= 600
    short.read(["old"] * 6, per_s=10)  # ten minutes ago, with a 30 s memory
    tracker.reset()
    monkeypatch.setenv("WARMING_DECAY_HALF_LIFE", "3600")  # the application restarted
    get_settings.cache_clear()
    short.now += 600
    short.read(["fresh"] * 2, per_s=10)
    tracker.reset()
    get_settings.cache_clear()
    # Under the old weights "old" (6 reads) would still outrank "fresh" (2 reads);
    # converted, its reads are twenty 30-second half-lives old.
    data = stats(celery_env(redis_server, WARMING_DECAY_HALF_LIFE="3600"), top=2)
    assert [row["key"] for row in data["top_keys"]] == ["fresh", "old"]
    assert data["top_keys"][0]["score"] == pytest.approx(2, rel=0.05)
    assert data["top_keys"][1]["score"] < 0.001


def due_keys(cache: redis.Redis, n: int) -> None:
    """``key:0`` … ``key:n-1`` cached with 100 s left: all due for refresh."""
    for i in range(n):
        cache.set(f"key:{i}", "stale", ex=100)
    cache.hset(CONFIG_KEY, mapping={"hot_keys": str(n), "ttl": "3600"})


def refresh(redis_server: RedisProcess) -> dict[str, Any]:
    return cli_json("refresh", env=celery_env(redis_server))


def test_refresh_skips_the_keys_the_application_no_longer_reads(
    replay: Replay, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    # The worker decides on its own (real) clock: the old reads are three hours
    # before it, past WARMING_REFRESH_UNREAD_AFTER (an hour); the rest are now.
    replay.now = replay.real_start - 3 * 3600
    replay.read([f"key:{i}" for i in range(60, 100)] * 5, per_s=50)
    replay.now = replay.real_start
    replay.read([f"key:{i}" for i in range(40)] * 5, per_s=50)
    due_keys(cache, 100)

    summary = refresh(redis_server)
    assert (summary["checked"], summary["refreshed"], summary["skipped_unread"]) == (100, 40, 60)
    for i in range(100):
        ttl = cache.ttl(f"key:{i}")
        if i < 40:
            assert cache.get(f"key:{i}") == value_for(f"key:{i}").encode()
            assert 3000 < ttl <= 3600
        else:
            assert cache.get(f"key:{i}") == b"stale", "left to expire"
            assert ttl <= 100


def test_refresh_reloads_every_due_key_where_nothing_is_tracked(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    due_keys(cache, 50)
    summary = refresh(redis_server)
    assert (summary["refreshed"], summary["skipped_unread"]) == (50, 0)


def test_skipping_unread_keys_can_be_switched_off_and_stops_when_tracking_stops(
    replay: Replay, cache: redis.Redis, redis_server: RedisProcess
) -> None:
    replay.read(["key:1"] * 10, per_s=10)
    store = CacheStore(cache)
    on = load_settings(redis_url=redis_server.url(0))
    assert read_floor(store, on, replay.now) is not None
    off = load_settings(redis_url=redis_server.url(0), refresh_unread_after=0)
    assert read_floor(store, off, replay.now) is None
    # Nothing read for a day: the application stopped tracking, not reading.
    assert read_floor(store, on, replay.now + 86_400) is None
