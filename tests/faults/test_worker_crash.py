"""Workers die mid-run (a pool child, then the whole worker) and no key is lost.

The whole-worker case relies on the Redis transport giving an unacked message to
another consumer after ``visibility_timeout``: the test's celeryconfig
(tests/support/faults_celeryconfig.py) sets it to 5 s instead of an hour.
"""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest
import redis

from warming_tasks.constants import REFRESH_LOCK_KEY, RUNS_KEY

from ..helpers import (
    Processes,
    Stack,
    await_summary,
    count_cached,
    kill_family,
    preload_until_held,
    running_batches,
    wait_until,
)
from ..support.fault_sources import CONFIG_KEY, LOADING_KEY, LOADS_KEY, RELEASE_KEY, value_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KEYS = [f"key:{i}" for i in range(200)]
BATCH = 10


def assert_all_warmed(cache: redis.Redis) -> None:
    """Every key cached with its one value and a jittered TTL."""
    values = cache.mget(KEYS)
    wrong = [k for k, v in zip(KEYS, values, strict=True) if v != value_for(k).encode()]
    assert not wrong, f"{len(wrong)} keys missing or wrong, first {wrong[:3]}"
    ttls = [cache.ttl(k) for k in KEYS]
    assert 3200 <= min(ttls) <= max(ttls) <= 3600, "TTLs jittered 10% below 3600 s"


def loads(ctl: redis.Redis) -> dict[str, int]:
    """How many times the source loaded each key (a batch killed in the hold never did)."""
    counts: dict[str, str] = ctl.hgetall(LOADS_KEY)  # type: ignore[assignment]
    return {k: int(v) for k, v in counts.items()}


def batch(index: int) -> list[str]:
    return KEYS[index * BATCH : (index + 1) * BATCH]


def hold(ctl: redis.Redis, *indexes: int) -> list[list[str]]:
    """The source holds these batches when they reach it (the others go on): a kill
    then lands in the middle of them, whatever the speed of the machine."""
    held = [batch(i) for i in indexes]
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "hold_keys": ",".join(b[0] for b in held)})
    return held


def started(ctl: redis.Redis) -> Counter[tuple[str, ...]]:
    """How many times each held batch has reached the source."""
    return Counter(tuple(json.loads(keys)) for keys in ctl.lrange(LOADING_KEY, 0, -1))


@pytest.mark.timeout(90)
def test_a_killed_pool_child_costs_one_redelivered_batch(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    """A preload of 200 keys in batches of 10; while two batches wait at the source, one
    pool child is killed. Its batch is delivered again and runs to the end, the other
    runs once, every key is loaded once, and the run is recorded once."""
    held = hold(ctl, 2, 3)  # two batches written first, then one in each pool child
    # The child's death gives its batch back at once (reject_on_worker_lost); the
    # pool may take 5 s to notice it, so the visibility timeout is put out of reach
    # lest it hand the same message out a second time meanwhile.
    env = stack.env(WARMING_BATCH_SIZE=BATCH, FAULTS_VISIBILITY_TIMEOUT=60)
    worker, result, running = preload_until_held(stack, procs, ctl, env, held)
    cache = stack.cache_client()
    assert count_cached(cache, KEYS) == 2 * BATCH
    child = worker.children()[0]
    task_id, lost = running[child.pid]
    child.send_signal(signal.SIGKILL)
    ctl.set(RELEASE_KEY, 1)

    summary = await_summary(result, 60, cache, worker)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (200, 0, 0)
    assert summary["batches"] == 20
    assert "errors" not in summary
    assert_all_warmed(cache)
    assert loads(ctl) == dict.fromkeys(KEYS, 1)
    log = worker.log()
    assert "WorkerLostError" in log or "signal 9" in log
    # The killed child's batch came back and ran to the end; the other ran once.
    assert started(ctl) == {tuple(lost): 2, tuple(next(b for b in held if b != lost)): 1}
    assert log.count(f"preload_batch[{task_id}] received") == 2, "delivered again"
    assert log.count(f"preload_batch[{task_id}] succeeded") == 1
    assert cache.llen(RUNS_KEY) == 1, "the run is recorded once"


@pytest.mark.timeout(120)
def test_the_whole_worker_killed_mid_run_then_restarted_warms_every_key(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    """A preload of 200 keys; while two batches wait at the source, the whole worker
    (parent and pool children) is killed. A new worker gets both batches back after the
    visibility timeout, every key is warmed, and the one run record is the summary the
    caller got."""
    held = hold(ctl, 4, 5)  # four batches written first, then one in each pool child
    env = stack.env(WARMING_BATCH_SIZE=BATCH)
    first = procs.worker(env, concurrency=2)
    cache = stack.cache_client()
    caller = stack.caller()
    result = caller.send_task("warming_tasks.preload")
    wait_until(lambda: ctl.llen(LOADING_KEY) == 2, 30, "both pool children in a held batch")
    running = running_batches(caller, workers=1, count=2)
    assert sorted(keys for _, keys in running.values()) == held
    kill_family(first)  # the parent and its pool children at once
    assert count_cached(cache, KEYS) == 4 * BATCH, "the crash came mid-run"
    assert not result.ready(), "two batches were still loading"
    ctl.set(RELEASE_KEY, 1)

    second = procs.worker(env, concurrency=2)
    summary = await_summary(result, 60, cache, first, second)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (200, 0, 0)
    assert summary["batches"] == 20
    assert "errors" not in summary
    assert_all_warmed(cache)
    assert set(loads(ctl)) == set(KEYS)
    # Both batches the dead worker held came back (visibility timeout) to the new
    # one and reached the source again. At least once: on a machine slow enough for
    # a batch to outlast the 5 s visibility timeout, any batch may be handed out
    # twice, and counted once all the same (the summary above).
    again = started(ctl)
    assert set(again) == {tuple(keys) for keys in held}
    assert min(again.values()) >= 2, again
    for task_id, _ in running.values():
        assert f"preload_batch[{task_id}] succeeded" in second.log(), task_id
    history = [json.loads(r) for r in cache.lrange(RUNS_KEY, 0, -1)]
    assert history == [summary], "the run is recorded once, with the summary the caller got"
    assert not cache.exists(REFRESH_LOCK_KEY)
