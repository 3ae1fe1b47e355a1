"""The cache Redis, then the broker, restarted in the middle of a run.

Both servers run with AOF (``appendfsync always``) and a directory of their own,
so what comes back after the restart is what was there before it: the test then
measures the warmer, not the loss of an unpersisted Redis.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import Any

import pytest
import redis

from warming_tasks.constants import RUNS_KEY

from ..helpers import (
    PERSISTENT,
    CeleryProcess,
    Processes,
    Stack,
    StackFactory,
    await_summary,
    count_cached,
    preload_until_held,
    wait_until,
)
from ..support.fault_sources import CONFIG_KEY, RELEASE_KEY, value_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KEYS = [f"key:{i}" for i in range(300)]
BATCH = 10


def retries(log: str) -> Counter[str]:
    """Batch task id -> how many times the worker's log says it was retried."""
    return Counter(re.findall(r"preload_batch\[([^\]]+)\] retry: Retry in", log))


def assert_every_key_loaded(stack: Stack, summary: dict[str, object]) -> None:
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (300, 0, 0), summary
    assert summary["batches"] == 30
    assert "errors" not in summary
    cache = stack.cache_client()
    values = cache.mget(KEYS)
    wrong = [k for k, v in zip(KEYS, values, strict=True) if v != value_for(k).encode()]
    assert not wrong, f"{len(wrong)} keys missing or wrong, first {wrong[:3]}"
    assert min(cache.ttl(k) for k in KEYS) > 3000
    assert cache.llen(RUNS_KEY) == 1


@pytest.mark.timeout(120)
def test_cache_redis_restarted_mid_preload(
    make_stack: StackFactory, procs: Processes, ctl: redis.Redis
) -> None:
    """The cache Redis is killed after three batches of a 300-key preload and stays down
    until a batch has been retried twice; restarted from its AOF, the run loads every
    key, and every batch the outage turned back finishes."""
    stack = make_stack(cache_args=PERSISTENT)
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "sleep": "0.2"})
    worker = procs.worker(stack.env(WARMING_BATCH_SIZE=BATCH), concurrency=2)
    cache = stack.cache_client()
    result = stack.caller().send_task("warming_tasks.preload")
    wait_until(lambda: count_cached(cache, KEYS) >= 3 * BATCH, 20, "three batches written")
    cache.close()

    stack.cache.stop(kill=True)  # a crash; AOF keeps every acknowledged write
    # Down until a batch turned back by the outage has met it again on its retry:
    # the backoff, not one lucky retry, carries the run through.
    wait_until(
        lambda: max(retries(worker.log()).values(), default=0) >= 2,
        60,
        "a batch retried twice while the cache is down",
    )
    assert not result.ready()
    stack.cache.start()  # same port, same directory

    summary = await_summary(result, 90, stack.cache_client(), worker)
    assert_every_key_loaded(stack, summary)
    # Every batch the outage turned back was delivered again and warmed its keys.
    log = worker.log()
    unfinished = [task for task in retries(log) if f"preload_batch[{task}] succeeded" not in log]
    assert not unfinished, f"retried batches that never finished: {unfinished}"


@pytest.mark.timeout(150)
def test_broker_restarted_mid_run(
    make_stack: StackFactory, procs: Processes, ctl: redis.Redis
) -> None:
    # Results on a third server: only the broker goes away.
    """The broker Redis is stopped with two batches in flight and started again once
    they finished; the run loads every key (the worker restarted as a supervisor would,
    if kombu makes it exit while reconnecting)."""
    stack = make_stack(broker_args=PERSISTENT, own_backend=True)
    # Batches 3 and 4 wait at the source, one in each pool child, so the broker
    # goes away with both in flight (unacknowledged) whatever the machine's speed.
    held = [KEYS[30:40], KEYS[40:50]]
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "hold_keys": "key:30,key:40"})
    env = stack.env(WARMING_BATCH_SIZE=BATCH)
    worker, result, running = preload_until_held(stack, procs, ctl, env, held)
    cache = stack.cache_client()
    assert count_cached(cache, KEYS) == 3 * BATCH

    # A restart, as systemd or compose does it: SIGTERM, then start. Not SIGKILL:
    # kombu's Redis transport pops a message (BRPOP) and records it as unacked in a
    # second command, so a broker killed between the two keeps the pop (AOF) but
    # never sends the message: that batch is lost to the broker, not to us (seen
    # once in CI as a run stuck at 29 of 30 batches).
    stack.broker.stop()
    # Down until the worker has found it gone and the batches it held have finished,
    # so their acknowledgements meet the outage too (unless the worker exited: see
    # await_summary_supervised).
    wait_until(lambda: lost_broker(worker.log()), 30, "the worker to lose the broker")
    ctl.set(RELEASE_KEY, 1)

    def held_finished() -> bool:
        exited = worker.process is not None and worker.process.poll() is not None
        log = worker.log()
        return exited or all(f"preload_batch[{t}] succeeded" in log for t, _ in running.values())

    wait_until(held_finished, 30, "the held batches to finish while the broker is down")
    stack.broker.start()

    summary = await_summary_supervised(result, 120, cache, procs, env, worker)
    assert_every_key_loaded(stack, summary)


def lost_broker(log: str) -> bool:
    return "Cannot connect to redis" in log or "Connection to broker lost" in log


def await_summary_supervised(  # noqa: PLR0913, PLR0917 - pytest fixtures
    result: Any,
    timeout: float,
    cache: redis.Redis,
    procs: Processes,
    env: dict[str, str],
    worker: CeleryProcess,
) -> dict[str, Any]:
    """The run's summary, restarting the worker if it exits, as a supervisor would.

    kombu 5.7 can fail to close its broker channel while reconnecting (``'NoneType'
    object has no attribute 'hostname'`` in ``restore_unacked``; celery/celery#10205
    describes the same family): the worker then logs "Unrecoverable error" and
    exits. Deployed under compose's ``restart: unless-stopped`` (or systemd's
    ``Restart=``) it comes back, and its batches, still unacked in the broker,
    are redelivered: the run must still load every key.
    """
    deadline = time.monotonic() + timeout
    current = worker
    while not result.ready():
        if current.process is not None and current.process.poll() is not None:
            log = current.log()
            # Only the known kombu failure is excused; any other exit is a defect.
            assert "Unrecoverable error" in log, log[-3000:]
            assert "restore_unacked" in log, log[-3000:]
            current = procs.worker(env)
        if time.monotonic() > deadline:
            return await_summary(result, 0.1, cache, worker, current)
        time.sleep(0.2)
    summary: dict[str, Any] = result.get(timeout=5)
    return summary
