"""Several key families, each from its own source with its own policy, and keys
warmed on demand: real worker and beat processes, a real Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery

from warming_tasks import runtime, warm
from warming_tasks.cli.embedded import RedisProcess

from .helpers import (
    Starter,
    caller_app,
    celery_env,
    cli,
    close_app,
    record_reads,
    wait_until,
)
from .support.fixture_sources import CONFIG_KEY, LOADS_KEY, value_for

pytestmark = pytest.mark.integration

SOURCES = "products=fixture_sources:Products,users=fixture_sources:Users"
FAMILIES = {"WARMING_SOURCE": "", "WARMING_SOURCES": SOURCES}


def run(app: Celery, name: str, **kwargs: Any) -> dict[str, Any]:
    summary: dict[str, Any] = app.send_task(f"warming_tasks.{name}", kwargs=kwargs).get(timeout=60)
    return summary


def loads(cache: redis.Redis) -> list[list[str]]:
    """The keys of each ``load_many`` call, in order, since the test began."""
    return [json.loads(batch) for batch in cache.lrange(LOADS_KEY, 0, -1)]


def product(i: int, version: int = 1) -> bytes:
    return f"{value_for(f'product:{i}')}:v{version}".encode()


@pytest.fixture(scope="module")
def families(start_worker: Starter) -> None:
    start_worker(**FAMILIES)


@pytest.fixture
def here(redis_server: RedisProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process configured as the application is: the same WARMING_* as the workers."""
    for name, value in celery_env(redis_server, **FAMILIES).items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    yield
    runtime.reset()


def test_one_preload_covers_every_source_in_batches_of_its_own_size(
    families: None, client_app: Celery, cache: redis.Redis
) -> None:
    summary = run(client_app, "preload")
    assert (summary["loaded"], summary["failed"], summary["batches"]) == (12, 0, 6)
    assert summary["source"] is None
    assert summary["by_source"]["products"]["loaded"] == 7
    assert summary["by_source"]["users"]["loaded"] == 5
    sizes = {
        family: sorted(len(b) for b in loads(cache) if b[0].startswith(family))
        for family in ("product", "user")
    }
    assert sizes == {"product": [1, 3, 3], "user": [1, 2, 2]}
    assert cache.get("product:6") == product(6)
    assert cache.get("user:4") == f"{value_for('user:4')}:v1".encode()


def test_a_run_of_one_source_warms_that_family_alone(
    families: None, client_app: Celery, cache: redis.Redis, redis_server: RedisProcess
) -> None:
    summary = run(client_app, "preload", source="users")
    assert (summary["source"], summary["loaded"], summary["batches"]) == ("users", 5, 3)
    assert "by_source" not in summary
    assert cache.keys("product:*") == []

    done = cli(
        "preload", "--source", "products", "--json", env=celery_env(redis_server, **FAMILIES)
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loaded"] == 7
    assert len(cache.keys("product:*")) == 7


def test_an_unknown_source_name_exits_2_naming_the_sources(
    families: None, redis_server: RedisProcess, client_app: Celery
) -> None:
    done = cli("refresh", "--source", "orders", env=celery_env(redis_server, **FAMILIES))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "warming-tasks: no source is named 'orders' (the sources are: products, users)"
    )
    with pytest.raises(ValueError, match="source='orders' is invalid: no source is named"):
        run(client_app, "preload", source="orders")


def test_a_predictive_load_routes_each_key_to_the_source_that_claims_it(
    families: None, client_app: Celery, cache: redis.Redis
) -> None:
    record_reads(cache, {"product:1": 5, "user:2": 4, "order:9": 3})
    summary = run(client_app, "predictive_load")
    assert (summary["candidates"], summary["loaded"], summary["unrouted"]) == (2, 2, 1)
    assert summary["by_source"]["products"]["loaded"] == 1
    assert summary["by_source"]["users"]["loaded"] == 1
    assert sorted(loads(cache)) == [["product:1"], ["user:2"]]
    assert cache.get("product:1") == product(1)
    assert cache.exists("order:9") == 0


def test_a_refresh_of_every_source_reloads_what_is_due_in_each(
    families: None, client_app: Celery, cache: redis.Redis
) -> None:
    cache.set("product:2", "stale", ex=100)
    cache.set("user:3", "stale", ex=100)
    cache.set("user:4", "fresh", ex=3000)
    summary = run(client_app, "refresh")
    assert (summary["checked"], summary["refreshed"]) == (12, 2)
    assert summary["by_source"]["products"]["checked"] == 7
    assert summary["by_source"]["users"]["refreshed"] == 1
    assert cache.get("product:2") == product(2)
    assert cache.get("user:4") == b"fresh"


def test_warm_requests_waiting_together_load_a_key_once_or_twice(
    here: None, start_worker: Starter, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    # A broker no worker consumes yet: the five requests wait there together.
    held = caller_app(redis_server.url(3), redis_server.url(2))
    redis_server.client(3).flushdb()
    try:
        requests = [warm(["product:3"], app=held) for _ in range(5)]
        cache.hset(CONFIG_KEY, "product_version", "2")  # the application changed the data
        start_worker(**FAMILIES, CELERY_BROKER_URL=redis_server.url(3))
        summaries = [r.get(timeout=60) for r in requests]
    finally:
        close_app(held)
    loaded = sum(s["loaded"] for s in summaries)
    coalesced = sum(s["coalesced"] for s in summaries)
    assert 1 <= loaded <= 2
    assert loaded + coalesced == 5
    assert len(loads(cache)) == loaded
    assert cache.get("product:3") == product(3, version=2)
    assert cache.ttl("product:3") > 3000


def test_a_warm_leaves_alone_what_the_application_wrote_during_the_load(
    here: None, families: None, client_app: Celery, cache: redis.Redis
) -> None:
    cache.set("product:4", "old", ex=600)
    cache.hset(CONFIG_KEY, "warm_sleep", "1")
    result = warm("product:4", app=client_app)
    wait_until(lambda: loads(cache), 20, "the warm is loading")
    cache.set("product:4", "from-app", ex=600)
    summary = result.get(timeout=60)
    assert (summary["loaded"], summary["superseded"]) == (0, 1)
    assert cache.get("product:4") == b"from-app"


def test_a_run_of_one_source_routes_ranked_keys_among_all_sources(
    families: None, client_app: Celery, cache: redis.Redis
) -> None:
    record_reads(cache, {"product:1": 5, "user:2": 4, "order:9": 3})
    summary = run(client_app, "predictive_load", source="users")
    assert (summary["source"], summary["loaded"], summary["unrouted"]) == ("users", 1, 1)
    assert loads(cache) == [["user:2"]]


def test_beat_refreshes_each_source_at_its_own_interval(
    procs: Any, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    env = celery_env(redis_server, **FAMILIES)
    procs.worker(env)
    procs.beat(env)

    def refreshes() -> dict[str, int]:
        runs = [json.loads(r) for r in cache.lrange("{warming}:runs", 0, -1)]
        found = {"products": 0, "users": 0}
        for summary in runs:
            if summary["kind"] == "refresh":
                found[summary["source"]] += 1
        return found

    wait_until(lambda: refreshes()["users"] >= 3, 40, "three refreshes of users (every 5 s)")
    counted = refreshes()
    # products every 2 s: about seven runs by the time users has had three (a tick
    # that expires on a busy machine may be lost: two spared).
    assert counted["products"] >= 5, counted
