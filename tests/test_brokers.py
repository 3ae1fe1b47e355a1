"""The whole cycle on each broker: Redis, and RabbitMQ (amqp://) with the Redis result backend.

RabbitMQ runs on this machine (127.0.0.1:5672, guest/guest); the tests use a
vhost of their own, made and deleted here, so they never touch another's queues.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from warming_tasks import tracker
from warming_tasks.celery_app import DEFAULTS
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings

from .helpers import Starter
from .support.fixture_sources import CONFIG_KEY, value_for
from .support.rabbitmq import own_vhost

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def amqp_url() -> Iterator[str]:
    with own_vhost() as url:
        yield url


@pytest.fixture(scope="module", params=["redis", "amqp"])
def broker(request: pytest.FixtureRequest, redis_server: RedisProcess) -> str:
    if request.param == "redis":
        return redis_server.url(1)
    url: str = request.getfixturevalue("amqp_url")
    return url


@pytest.fixture(scope="module")
def app(broker: str, redis_server: RedisProcess, start_worker: Starter) -> Iterator[Celery]:
    start_worker(CELERY_BROKER_URL=broker, WARMING_BATCH_SIZE=100)
    client = Celery("caller", set_as_current=False)
    client.conf.update(DEFAULTS, broker_url=broker, result_backend=redis_server.url(2))
    yield client
    client.close()


def run(app: Celery, name: str, **kwargs: Any) -> dict[str, Any]:
    summary: dict[str, Any] = app.send_task(f"warming_tasks.{name}", kwargs=kwargs).get(timeout=60)
    return summary


def test_the_cycle(app: Celery, cache: redis.Redis, redis_server: RedisProcess) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "350", "unknown_keys": "1"})
    preload = run(app, "preload")
    assert (preload["loaded"], preload["missing"], preload["batches"]) == (350, 1, 4)
    assert cache.get("key:349") == value_for("key:349").encode()

    cache.set("key:3", "stale", ex=100)
    refresh = run(app, "refresh")
    assert (refresh["checked"], refresh["refreshed"]) == (351, 1)
    assert cache.get("key:3") == value_for("key:3").encode()

    tracker.reset(load_settings(redis_url=redis_server.url(0)))
    try:
        for key, reads in (("hot-a", 5), ("hot-b", 3), ("key:1", 9)):
            for _ in range(reads):
                tracker.track_access(key)
        tracker.flush_access()
    finally:
        tracker.reset()
    predictive = run(app, "predictive_load", limit=3)
    assert (predictive["candidates"], predictive["loaded"]) == (2, 2), "key:1 is cached"
    assert cache.get("hot-a") == value_for("hot-a").encode()
