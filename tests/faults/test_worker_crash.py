"""Scenario 1: workers die mid-run (a pool child, then the whole worker) and no key is lost.

The whole-worker case relies on the Redis transport giving an unacked message to
another consumer after ``visibility_timeout``: the test's celeryconfig
(tests/support/faults_celeryconfig.py) sets it to 5 s instead of an hour.
"""

from __future__ import annotations

import json
import signal
import time

import pytest
import redis

from warming_tasks.constants import REFRESH_LOCK_KEY, RUNS_KEY

from ..helpers import Processes, Stack, await_summary, count_cached, kill_family, wait_until
from ..support.fault_sources import CONFIG_KEY, LOADS_KEY, value_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KEYS = [f"key:{i}" for i in range(200)]
BATCH = 10


def assert_all_warmed(cache: redis.Redis, ctl: redis.Redis) -> None:
    """Every key cached with its one value and a jittered TTL; each loaded once or twice."""
    values = cache.mget(KEYS)
    wrong = [k for k, v in zip(KEYS, values, strict=True) if v != value_for(k).encode()]
    assert not wrong, f"{len(wrong)} keys missing or wrong, first {wrong[:3]}"
    ttls = [cache.ttl(k) for k in KEYS]
    assert 3200 <= min(ttls) <= max(ttls) <= 3600, "TTLs jittered 10% below 3600 s"
    loads = {k: int(v) for k, v in ctl.hgetall(LOADS_KEY).items()}
    assert set(loads) == set(KEYS)
    assert max(loads.values()) <= 2, "a key is loaded again only with its redelivered batch"


@pytest.mark.timeout(90)
def test_a_killed_pool_child_costs_one_redelivered_batch(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "sleep": "0.3"})
    worker = procs.worker(stack.env(WARMING_BATCH_SIZE=BATCH), concurrency=2)
    cache = stack.cache_client()
    result = stack.caller().send_task("warming_tasks.preload")
    wait_until(lambda: count_cached(cache, KEYS) >= 2 * BATCH, 20, "two batches written")
    child = worker.children()[0]
    child.send_signal(signal.SIGKILL)

    summary = await_summary(result, 60, cache, worker)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (200, 0, 0)
    assert summary["batches"] == 20
    assert "errors" not in summary
    assert_all_warmed(cache, ctl)
    assert "WorkerLostError" in worker.log() or "signal 9" in worker.log()
    loads = [int(v) for v in ctl.hvals(LOADS_KEY)]
    assert sum(loads) - len(KEYS) <= BATCH, "only the killed child's batch ran twice"
    assert cache.llen(RUNS_KEY) == 1, "the run is recorded once"


@pytest.mark.timeout(120)
def test_the_whole_worker_killed_mid_run_then_restarted_warms_every_key(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "sleep": "0.3"})
    env = stack.env(WARMING_BATCH_SIZE=BATCH)
    first = procs.worker(env, concurrency=2)
    cache = stack.cache_client()
    result = stack.caller().send_task("warming_tasks.preload")
    wait_until(lambda: count_cached(cache, KEYS) >= 4 * BATCH, 20, "four batches written")
    kill_family(first)  # the parent and its pool children at once
    written_at_crash = count_cached(cache, KEYS)
    assert written_at_crash < len(KEYS), "the crash came mid-run"
    time.sleep(0.5)
    assert not result.ready(), "nobody is left to finish the run"

    second = procs.worker(env, concurrency=2)
    summary = await_summary(result, 60, cache, first, second)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (200, 0, 0)
    assert summary["batches"] == 20
    assert "errors" not in summary
    assert_all_warmed(cache, ctl)
    assert "warming_tasks.preload_batch" in second.log(), "the new worker took the rest"
    history = [json.loads(r) for r in cache.lrange(RUNS_KEY, 0, -1)]
    assert history == [summary], "the run is recorded once, with the summary the caller got"
    loads = [int(v) for v in ctl.hvals(LOADS_KEY)]
    # The prefetch limit (concurrency x 1) bounds the batches that were in flight.
    assert sum(loads) - len(KEYS) <= 2 * BATCH
    assert not cache.exists(REFRESH_LOCK_KEY)
