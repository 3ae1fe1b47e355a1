"""A worker child killed mid-batch: the batch is redelivered and the run still completes."""

from __future__ import annotations

import signal

import pytest
import redis
from celery import Celery

from .helpers import Starter, count_cached, wait_until
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = pytest.mark.integration


def test_sigkill_of_a_worker_child_loses_no_key(
    start_worker: Starter, client_app: Celery, cache: redis.Redis
) -> None:
    worker = start_worker(WARMING_BATCH_SIZE=10)
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "200", "batch_sleep": "0.3"})
    result = client_app.send_task("warming_tasks.preload")
    keys = [f"key:{i}" for i in range(200)]
    wait_until(lambda: count_cached(cache, keys) >= 20, 20, "two batches written")
    victims = worker.children()
    assert victims, "the worker has pool children"
    victims[0].send_signal(signal.SIGKILL)
    assert count_cached(cache, keys) < 200, "the kill landed mid-run"
    assert not result.ready()
    summary = result.get(timeout=90)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (200, 0, 0)
    assert summary["batches"] == 20
    for i in range(200):
        assert cache.get(f"key:{i}") == value_for(f"key:{i}").encode(), f"key:{i}"
    assert "WorkerLostError" in worker.log() or "signal 9" in worker.log()
