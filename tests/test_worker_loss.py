"""A worker child killed mid-batch: the batch is redelivered and the run still completes."""

from __future__ import annotations

import json
import signal
from collections import Counter

import pytest
import redis
from celery import Celery

from warming_tasks.cli.embedded import RedisProcess

from .helpers import Starter, count_cached, running_batches, wait_until
from .support.fault_sources import CONFIG_KEY, LOADING_KEY, LOADS_KEY, RELEASE_KEY, value_for

pytestmark = pytest.mark.integration

KEYS = [f"key:{i}" for i in range(200)]


def test_sigkill_of_a_worker_child_loses_no_key(
    start_worker: Starter,
    client_app: Celery,
    cache: redis.Redis,
    control: RedisProcess,
    ctl: redis.Redis,
) -> None:
    # The fault suite's source, for its hold: batches 2 and 3 wait at the source
    # (one in each pool child) until released, so the kill lands mid-batch
    # whatever the speed of the machine.
    held = [KEYS[20:30], KEYS[30:40]]
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "hold_keys": "key:20,key:30"})
    worker = start_worker(
        WARMING_BATCH_SIZE=10,
        WARMING_SOURCE="fault_sources:Counting",
        FAULTS_CONTROL_URL=control.url(0),
    )
    result = client_app.send_task("warming_tasks.preload")
    wait_until(lambda: ctl.llen(LOADING_KEY) == 2, 30, "both pool children in a held batch")
    running = running_batches(client_app, workers=1, count=2)
    assert sorted(keys for _, keys in running.values()) == held
    victim = worker.children()[0]
    task_id, lost = running[victim.pid]
    victim.send_signal(signal.SIGKILL)
    assert count_cached(cache, KEYS) == 20, "the kill landed mid-run"
    assert not result.ready()
    ctl.set(RELEASE_KEY, 1)

    summary = result.get(timeout=90)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (200, 0, 0)
    assert summary["batches"] == 20
    for key in KEYS:
        assert cache.get(key) == value_for(key).encode(), key
    log = worker.log()
    assert "WorkerLostError" in log or "signal 9" in log
    # The killed child's batch was delivered again and reached the source again;
    # every key was loaded once (the killed try never got past the hold).
    loading = Counter(tuple(json.loads(keys)) for keys in ctl.lrange(LOADING_KEY, 0, -1))
    assert loading == {tuple(lost): 2, tuple(next(b for b in held if b != lost)): 1}
    assert log.count(f"preload_batch[{task_id}] received") == 2, "delivered again"
    assert {k: int(v) for k, v in ctl.hgetall(LOADS_KEY).items()} == dict.fromkeys(KEYS, 1)
