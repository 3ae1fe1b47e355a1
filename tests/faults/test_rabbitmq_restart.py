"""This machine's RabbitMQ, the broker, restarted in the middle of a preload.

The worker consumes from a vhost of the test's own on 127.0.0.1:5672 (made and
deleted here, as tests/test_brokers.py does); results and the cache stay on the
test's Redis. ``rabbitmqctl stop_app`` closes every client connection and the
listener, with batches running and others waiting in the queue; ``start_app``
brings back the durable queue and its persistent messages. Batches that were
unacknowledged when the connection went are redelivered, and counted once:
the run must load every key and its summary must still reach the caller.

It restarts the RabbitMQ of the whole machine: every vhost's clients see it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import RUNS_KEY
from warming_tasks.store import CacheStore

from ..helpers import (
    CeleryProcess,
    Processes,
    await_summary,
    caller_app,
    celery_env,
    wait_until,
)
from ..support.fault_sources import CONFIG_KEY, LOADS_KEY, value_for
from ..support.rabbitmq import HOST, PORT, listening, own_vhost, rabbitmqctl

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KEYS = [f"key:{i}" for i in range(600)]
BATCH = 10
BATCHES = len(KEYS) // BATCH
# Two pool processes, 0.3 s a batch: about 9 s of work.
SLEEP_S = "0.3"
LOST = "Connection to broker lost"


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    """A vhost of the module's own on this machine's RabbitMQ, deleted afterwards."""
    with own_vhost() as url:
        yield url


def batches_done(store: CacheStore, run_id: str) -> int:
    """Batches counted into the run's record (``{warming}:run:<id>:done``)."""
    return int(store.run_state(run_id).get("batches_done", "0"))


def restart_rabbitmq(worker: CeleryProcess) -> None:
    """``stop_app``; once the listener refuses and the worker saw its connection go,
    ``start_app``, whatever happened in between."""
    try:
        rabbitmqctl("stop_app")
        wait_until(lambda: not listening(), 30, f"{HOST}:{PORT} refusing connections")
        wait_until(lambda: LOST in worker.log(), 30, f"{LOST!r} in the worker log")
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")
    wait_until(listening, 60, f"{HOST}:{PORT} accepting connections again")


@pytest.mark.timeout(300)
def test_rabbitmq_restarted_mid_preload(  # noqa: PLR0913, PLR0917 - pytest fixtures
    amqp_url: str,
    redis_server: RedisProcess,
    cache: redis.Redis,
    ctl: redis.Redis,
    control: RedisProcess,
    procs: Processes,
) -> None:
    """RabbitMQ is stopped and started after six batches of a 600-key preload: every key
    is loaded with its TTL, no batch runs more than twice, the run is recorded once, and
    the worker reconnects and keeps running."""
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "sleep": SLEEP_S})
    env = celery_env(
        redis_server,
        CELERY_BROKER_URL=amqp_url,
        WARMING_SOURCE="fault_sources:Counting",
        FAULTS_CONTROL_URL=control.url(0),
        WARMING_BATCH_SIZE=BATCH,
    )
    worker = procs.worker(env, concurrency=2)
    app = caller_app(amqp_url, redis_server.url(2))
    store = CacheStore(cache)
    try:
        result = app.send_task("warming_tasks.preload")
        wait_until(lambda: batches_done(store, result.id) >= 6, 30, "six batches counted")

        restart_rabbitmq(worker)
        done_at_restart = batches_done(store, result.id)
        assert done_at_restart < BATCHES, "the restart came mid-run"

        summary = await_summary(result, 180, cache, worker)
    finally:
        app.close()

    counts = (summary["loaded"], summary["missing"], summary["failed"])
    assert counts == (len(KEYS), 0, 0), summary
    assert summary["batches"] == BATCHES, summary
    assert "errors" not in summary, summary
    values = cache.mget(KEYS)
    wrong = [k for k, v in zip(KEYS, values, strict=True) if v != value_for(k).encode()]
    assert not wrong, f"{len(wrong)} keys missing or wrong, first {wrong[:3]}"
    ttls = [cache.ttl(k) for k in KEYS]
    assert min(ttls) > 3000, f"every key has its TTL, lowest {min(ttls)}"
    assert cache.llen(RUNS_KEY) == 1, "the run is recorded once"
    loads = {k: int(v) for k, v in ctl.hgetall(LOADS_KEY).items()}
    assert set(loads) == set(KEYS)
    # Only the batches unacknowledged when the connection went run again.
    assert max(loads.values()) <= 2, loads
    assert worker.process is not None, "the worker is still running"
    assert worker.process.poll() is None, worker.log()[-3000:]
    assert worker.log().count(f"Connected to {amqp_url.replace('guest:guest', 'guest:**')}") >= 2
