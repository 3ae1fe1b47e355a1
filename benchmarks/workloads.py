"""One function per measured workload; each returns what it measured, not a verdict."""

from __future__ import annotations

import json
import logging
import random
import subprocess
import sys
import time
import timeit
from collections import defaultdict
from itertools import cycle
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from warming_tasks import tracker
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import FREQUENCY_KEY
from warming_tasks.settings import load_settings
from warming_tasks.store.base import script_text
from warming_tasks.tracker import AccessTracker

from .sources import KEYS_SETTING, TTL_S, VALUE, InstantSource, bench_key
from .workers import bench_env

PIPELINE = 1000
NAIVE_KEYS = 20_000
# The flush and its ZINCRBY floor run in a database of their own, emptied before
# each: the harness's other workloads leave a ranking in database 0.
FLUSH_DB = 4


def _keys(start: int, stop: int) -> list[str]:
    return [bench_key(i) for i in range(start, stop)]


def clear_cache(client: redis.Redis, n: int) -> None:
    """Remove bench keys 0..n-1 (leaving the frequency set and settings)."""
    for start in range(0, n, 10_000):
        client.unlink(*_keys(start, min(n, start + 10_000)))


def pipeline(client: redis.Redis, n: int) -> float:
    """Seconds for one process to write n keys with redis-py pipelines of 1,000."""
    started = time.perf_counter()
    for start in range(0, n, PIPELINE):
        pipe = client.pipeline(transaction=False)
        for key in _keys(start, min(n, start + PIPELINE)):
            pipe.set(key, VALUE, ex=TTL_S)
        pipe.execute()
    return time.perf_counter() - started


def zincrby_seconds(server: RedisProcess, distinct: int = 100_000) -> float:
    """Seconds for one process to add one read to each of ``distinct`` new members of
    a sorted set with bare pipelined ZINCRBY: the floor under a flush of as many keys.
    Like the flush, it starts from an empty database and its member names are built
    before the clock starts."""
    client = server.client(FLUSH_DB)
    client.flushdb()
    key = "bench:zincrby"
    members = [f"flush:{i}" for i in range(distinct)]
    started = time.perf_counter()
    for start in range(0, distinct, 10_000):
        pipe = client.pipeline(transaction=False)
        for member in members[start : start + 10_000]:
            pipe.zincrby(key, 1.0, member)
        pipe.execute()
    seconds = time.perf_counter() - started
    client.flushdb()
    client.close()
    return seconds


def cpu_s(client: redis.Redis) -> float:
    """CPU seconds the Redis server has used so far (user + system, all threads)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def naive(client: redis.Redis, n: int = NAIVE_KEYS) -> float:
    """Seconds for the naive loop: one load and one SET EX round trip per key."""
    source = InstantSource()
    started = time.perf_counter()
    for key in _keys(0, n):
        entry = source.load(key)
        if entry is not None:
            client.set(key, entry[0], ex=entry[1])
    return time.perf_counter() - started


def redis_benchmark(server: RedisProcess, n: int) -> float:
    """Keys/s that redis-benchmark -P 100 reaches for SET … EX 3600 on the same server."""
    done = subprocess.run(
        [
            "redis-benchmark",
            "-h",
            "127.0.0.1",
            "-p",
            str(server.port),
            "-P",
            "100",
            "-r",
            str(n),
            "-n",
            str(n),
            "--csv",
            "SET",
            "key:__rand_int__",
            VALUE,
            "EX",
            "3600",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    row = done.stdout.strip().splitlines()[-1].split('","')
    return float(row[1])


def run_task(app: Celery, name: str, **kwargs: Any) -> tuple[float, dict[str, Any]]:
    """Seconds from enqueue to summary of a warming run through the workers."""
    started = time.perf_counter()
    summary: dict[str, Any] = app.send_task(f"warming_tasks.{name}", kwargs=kwargs).get(
        timeout=1800
    )
    return time.perf_counter() - started, summary


def preload(app: Celery, client: redis.Redis, n: int) -> tuple[float, dict[str, Any]]:
    client.set(KEYS_SETTING, n)
    clear_cache(client, n)
    seconds, summary = run_task(app, "preload")
    if summary["loaded"] != n:
        raise RuntimeError(f"preload loaded {summary['loaded']} of {n}: {summary}")
    return seconds, summary


def timed_preload(
    app: Celery, client: redis.Redis, n: int, name: str, figures: dict[str, list[float]]
) -> None:
    """A preload of n keys: keys/s and the cache Redis' CPU per key, as ``name``."""
    cpu = cpu_s(client)
    seconds, summary = run_task(app, "preload")
    if summary["loaded"] != n:
        raise RuntimeError(f"{name} loaded {summary['loaded']} of {n}: {summary}")
    figures[f"{name}_keys_per_s"].append(n / seconds)
    figures[f"{name}_redis_cpu_us_per_key"].append((cpu_s(client) - cpu) / n * 1e6)


def prepare_refresh(client: redis.Redis, n: int) -> None:
    """n cached keys, every tenth expiring in 100 s (under the 300 s threshold)."""
    for start in range(0, n, PIPELINE):
        pipe = client.pipeline(transaction=False)
        for i in range(start, min(n, start + PIPELINE)):
            pipe.set(bench_key(i), VALUE, ex=100 if i % 10 == 0 else TTL_S)
        pipe.execute()


def refresh(app: Celery, client: redis.Redis, n: int) -> tuple[float, dict[str, Any]]:
    client.set(KEYS_SETTING, n)
    seconds, summary = run_task(app, "refresh")
    if summary["refreshed"] != n // 10:
        raise RuntimeError(f"refresh refreshed {summary['refreshed']} of {n // 10}: {summary}")
    return seconds, summary


def probe(client: redis.Redis, n: int) -> float:
    """Seconds for one process to read the PTTL of n keys: the faster of pipelines of
    1,000 ``PTTL`` and pipelines of five calls of a 200-key ``PTTL`` script (the
    best a user would write, whichever that is on this machine)."""
    return min(_probe_commands(client, n), _probe_script(client, n))


def _probe_commands(client: redis.Redis, n: int) -> float:
    started = time.perf_counter()
    for start in range(0, n, PIPELINE):
        pipe = client.pipeline(transaction=False)
        for key in _keys(start, min(n, start + PIPELINE)):
            pipe.pttl(key)
        pipe.execute()
    return time.perf_counter() - started


def _probe_script(client: redis.Redis, n: int) -> float:
    ttls = client.register_script(script_text("pttl"))
    ttls(keys=[bench_key(0)])  # loaded before the clock starts
    started = time.perf_counter()
    for start in range(0, n, PIPELINE):
        pipe = client.pipeline(transaction=False)
        for part in range(start, min(n, start + PIPELINE), 200):
            ttls(keys=_keys(part, min(n, part + 200)), client=pipe)
        pipe.execute()
    return time.perf_counter() - started


def prepare_ranking(client: redis.Redis, members: int = 100_000) -> None:
    """A frequency set of ``members`` keys whose top 10,000 are bench:0..9999."""
    rng = random.Random(5)
    client.delete(FREQUENCY_KEY)
    for start in range(0, members, 10_000):
        scores = {bench_key(i): 1e6 - i + rng.random() / 2 for i in range(start, start + 10_000)}
        client.zadd(FREQUENCY_KEY, scores)


def predictive(app: Celery, client: redis.Redis, limit: int) -> tuple[float, dict[str, Any]]:
    clear_cache(client, limit)
    seconds, summary = run_task(app, "predictive_load", limit=limit)
    if summary["loaded"] != limit:
        raise RuntimeError(f"predictive loaded {summary['loaded']} of {limit}: {summary}")
    return seconds, summary


def track_access_ns(server: RedisProcess, calls: int = 1_000_000) -> tuple[float, float]:
    """ns per track_access call and per bare defaultdict increment, same keys, same
    loop, interleaved three times (call it once per repetition); the best of each."""
    tracker.reset(load_settings(redis_url=server.url(0), flush_interval=3600))
    keys = [f"k{i}" for i in range(1000)]
    counts: defaultdict[str, int] = defaultdict(int)
    env = {"cycle": cycle, "keys": keys, "track": tracker.track_access, "counts": counts}
    quiet = logging.getLogger(tracker.__name__)
    tracked, bare = [], []
    for _ in range(3):
        tracked.append(
            timeit.timeit("track(nxt())", "nxt = cycle(keys).__next__", globals=env, number=calls)
        )
        bare.append(
            timeit.timeit(
                "counts[nxt()] += 1", "nxt = cycle(keys).__next__", globals=env, number=calls
            )
        )
        # Each round starts from an empty buffer: a million calls fill it exactly.
        previous = quiet.level
        quiet.setLevel(logging.ERROR)
        tracker.flush_access()
        quiet.setLevel(previous)
    tracker.reset()
    return min(tracked) / calls * 1e9, min(bare) / calls * 1e9


def flush_seconds(
    server: RedisProcess, distinct: int = 100_000, half_life: float | str = "auto"
) -> float:
    """Seconds to flush ``distinct`` buffered keys into the frequency set (with
    ``auto``, the candidates' sample sets and their evidence too), from an empty
    database of its own: each side of a comparison starts from the same state."""
    client = server.client(FLUSH_DB)
    client.flushdb()
    settings = load_settings(
        redis_url=server.url(FLUSH_DB), tracker_max_keys=distinct * 2, decay_half_life=half_life
    )
    t = AccessTracker(settings)
    for i in range(distinct):
        t.track(f"flush:{i}")
    started = time.perf_counter()
    delivered = t.flush()
    seconds = time.perf_counter() - started
    t.close()
    if delivered != distinct:
        raise RuntimeError(f"flush delivered {delivered} of {distinct}")
    client.flushdb()
    client.close()
    return seconds


def dispatch_rss_kib(server: RedisProcess, keys: int, workdir: Path) -> tuple[int, int]:
    """Peak RSS of a process dispatching a preload of ``keys`` hot keys (broker db
    5), and how far that peak rose above its RSS once everything was imported."""
    env = bench_env(server, broker_db=5, BENCH_KEYS=str(keys))
    client = server.client(0)
    client.delete(KEYS_SETTING)  # the source then reads BENCH_KEYS
    try:
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.dispatch_memory"],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            check=True,
            timeout=1800,
        )
    finally:
        server.client(5).flushdb()  # the batches nobody consumes
    line = json.loads(done.stdout.strip().splitlines()[-1])
    return int(line["peak_rss_kib"]), int(line["above_import_kib"])
