"""The three runs end to end: a real worker (in this process), a real Redis, results
by task name, and what a user's own task chained after a run receives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery, chain

from warming_tasks import tracker
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import REFRESH_LOCK_KEY, RUNS_KEY
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore

from .helpers import record_reads, wait_until
from .support.fixture_sources import CONFIG_KEY, LOADS_KEY, value_for

pytestmark = [pytest.mark.integration, pytest.mark.in_process(WARMING_BATCH_SIZE=100)]


def run(app: Celery, name: str, timeout: float = 30, **kwargs: Any) -> dict[str, Any]:
    result: dict[str, Any] = app.send_task(f"warming_tasks.{name}", kwargs=kwargs).get(
        timeout=timeout
    )
    return result


def configure(cache: redis.Redis, **conf: object) -> None:
    cache.hset(CONFIG_KEY, mapping={k: str(v) for k, v in conf.items()})


def test_preload_loads_every_hot_key_in_batches(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=500, unknown_keys=2)
    summary = run(client_app, "preload")
    assert summary["loaded"] == 500
    assert summary["missing"] == 2
    assert summary["failed"] == 0
    assert summary["batches"] == 6
    assert summary["duration_s"] > 0
    assert "errors" not in summary
    # One WARMING_SOURCE: the summary of a run as it always was, no share per source.
    assert (summary["source"], "by_source" in summary) == (None, False)
    for i in (0, 99, 100, 499):
        assert cache.get(f"key:{i}") == value_for(f"key:{i}").encode()
    ttls = [cache.ttl(f"key:{i}") for i in range(500)]
    assert 3240 <= min(ttls) <= max(ttls) <= 3600
    assert len(set(ttls)) > 10, "TTL jitter spreads expiry"
    assert not cache.exists("unknown:0")


def test_a_key_that_fails_to_load_fails_alone(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=200, failing_keys="key:113")
    summary = run(client_app, "preload")
    assert (summary["loaded"], summary["failed"]) == (199, 1)
    assert summary["errors"] == [
        {"key": "key:113", "reason": "RuntimeError: database row for key:113 is corrupt"}
    ]
    assert not cache.exists("key:113")
    assert all(cache.exists(f"key:{i}") for i in range(100, 200) if i != 113)


def test_an_empty_source_returns_an_empty_summary(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=0)
    summary = run(client_app, "preload")
    assert (summary["loaded"], summary["missing"], summary["failed"], summary["batches"]) == (
        0,
        0,
        0,
        0,
    )


def test_runs_are_recorded_for_stats(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=150)
    summary = run(client_app, "preload")
    history = [json.loads(r) for r in cache.lrange(RUNS_KEY, 0, -1)]
    assert history[0] == summary


def cache_keys_for_refresh(cache: redis.Redis) -> None:
    configure(cache, hot_keys=30)
    for i in range(10):
        cache.set(f"key:{i}", "stale", ex=100)  # expiring: under the 300 s threshold
    for i in range(10, 20):
        cache.set(f"key:{i}", "stale", ex=1000)  # not yet due
    cache.set("key:20", "stale")  # persistent: never touched
    # key:21..29 are hot but not cached (deleted by the application, or never read)


def test_refresh_reloads_only_expiring_keys(client_app: Celery, cache: redis.Redis) -> None:
    cache_keys_for_refresh(cache)
    summary = run(client_app, "refresh")
    assert (summary["checked"], summary["refreshed"], summary["failed"]) == (30, 10, 0)
    assert summary["not_cached"] == 9, "key:21 to key:29: checked, not in the cache"
    assert "by_source" not in summary
    for i in range(10):
        assert cache.get(f"key:{i}") == value_for(f"key:{i}").encode()
        assert cache.ttl(f"key:{i}") > 3000
    for i in range(10, 20):
        assert cache.get(f"key:{i}") == b"stale"
        assert cache.ttl(f"key:{i}") <= 1000
    assert cache.get("key:20") == b"stale"
    assert cache.ttl("key:20") == -1
    assert not any(cache.exists(f"key:{i}") for i in range(21, 30)), "never resurrected"
    assert not cache.exists(REFRESH_LOCK_KEY), "the lock is released with the summary"


def test_refresh_skips_while_another_run_holds_the_lock(
    client_app: Celery, cache: redis.Redis
) -> None:
    cache_keys_for_refresh(cache)
    store = CacheStore(cache)
    assert store.acquire_lock("run-in-progress") == "run-in-progress"
    summary = run(client_app, "refresh")
    assert summary["skipped"] == "a refresh run is in progress: run-in-progress"
    assert (summary["checked"], summary["refreshed"], summary["failed"]) == (0, 0, 0)
    assert cache.get("key:0") == b"stale"
    assert cache.get(REFRESH_LOCK_KEY) == b"run-in-progress", "the holder keeps its lock"


@pytest.fixture
def app_tracker(redis_server: RedisProcess) -> Iterator[None]:
    """track_access in this process, pointed at the test's Redis."""
    tracker.reset(load_settings(redis_url=redis_server.url(0)))
    yield
    tracker.reset()


@pytest.mark.usefixtures("app_tracker")
def test_predictive_loads_the_most_read_keys(client_app: Celery, cache: redis.Redis) -> None:
    for key, reads in (("a", 30), ("b", 20), ("c", 1)):
        for _ in range(reads):
            tracker.track_access(key)
    assert tracker.flush_access() == 51
    summary = run(client_app, "predictive_load", limit=2)
    assert (summary["candidates"], summary["loaded"], summary["failed"]) == (2, 2, 0)
    assert cache.get("a") == value_for("a").encode()
    assert cache.get("b") == value_for("b").encode()
    assert not cache.exists("c")


@pytest.mark.usefixtures("app_tracker")
def test_predictive_never_overwrites_the_application(
    client_app: Celery, cache: redis.Redis
) -> None:
    for key, reads in (("a", 30), ("b", 20)):
        for _ in range(reads):
            tracker.track_access(key)
    tracker.flush_access()
    cache.set("a", "written-by-app", ex=60)
    summary = run(client_app, "predictive_load", limit=2)
    assert (summary["candidates"], summary["loaded"]) == (1, 1)
    assert cache.get("a") == b"written-by-app"
    assert cache.get("b") == value_for("b").encode()


def test_predictive_with_nothing_tracked_is_empty(client_app: Celery, cache: redis.Redis) -> None:
    summary = run(client_app, "predictive_load")
    assert (summary["candidates"], summary["loaded"], summary["batches"]) == (0, 0, 0)


def test_the_app_accepts_only_json() -> None:
    from warming_tasks.app import app  # noqa: PLC0415 - building the app is what the test checks

    assert app.conf.accept_content == ["json"]
    assert app.conf.result_accept_content == ["json"]
    assert app.conf.task_serializer == "json"
    assert app.conf.result_serializer == "json"


def test_a_pickled_message_is_refused_by_the_worker(
    client_app: Celery, cache: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    configure(cache, hot_keys=5)
    result = client_app.send_task("warming_tasks.preload", serializer="pickle")
    wait_until(lambda: "ContentDisallowed" in caplog.text, 10, "the worker refuses pickle")
    assert result.state == "PENDING"
    assert not cache.exists("key:0")


def test_a_redelivered_entry_task_returns_the_same_summary_once(
    client_app: Celery, cache: redis.Redis
) -> None:
    configure(cache, hot_keys=300)
    first = client_app.send_task("warming_tasks.preload", task_id="run-twice").get(timeout=30)
    again = client_app.send_task("warming_tasks.preload", task_id="run-twice").get(timeout=30)
    assert again == first
    assert first["loaded"] == 300
    assert cache.llen(RUNS_KEY) == 1, "the run is recorded once"


def test_a_source_that_breaks_while_listing_keys_finishes_what_it_sent(
    client_app: Celery, cache: redis.Redis
) -> None:
    configure(cache, hot_keys=500, hot_keys_fail_after=250)
    summary = run(client_app, "preload")
    assert summary["loaded"] == 200
    assert summary["batches"] == 2
    assert summary["dispatch_error"] == (
        "listing the keys failed after 2 batches: ConnectionResetError: "
        "the database went away while listing keys"
    )
    assert cache.exists("key:199")
    assert not cache.exists("key:200")


def test_a_refresh_with_nothing_due_sends_no_batch(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=250)
    for i in range(250):
        cache.set(f"key:{i}", "fresh", ex=3000)
    summary = run(client_app, "refresh")
    assert (summary["checked"], summary["refreshed"], summary["batches"]) == (250, 0, 0)
    assert cache.get("key:0") == b"fresh"


def test_preload_by_popularity_loads_the_most_read_keys_first(
    client_app: Celery, cache: redis.Redis
) -> None:
    configure(cache, hot_keys=500, record_loads=1)
    popular = {f"key:{i}": i for i in range(450, 500)}  # read most: the last 50
    record_reads(cache, popular | {"not-hot": 999})
    summary = run(client_app, "preload", by_popularity=True)
    assert (summary["loaded"], summary["batches"]) == (500, 5)
    loads = [json.loads(call) for call in cache.lrange(LOADS_KEY, 0, -1)]
    first = next(keys for keys in loads if "key:499" in keys)
    expected = [f"key:{i}" for i in range(499, 449, -1)] + [f"key:{i}" for i in range(50)]
    assert first == expected, "the first batch: most read first, then the source's order"
    assert sorted(k for keys in loads for k in keys) == sorted(f"key:{i}" for i in range(500))
    assert not cache.exists("not-hot"), "ranked keys that are not hot keys are not loaded"


def test_preload_keeps_the_source_order_by_default(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=200, record_loads=1)
    record_reads(cache, {"key:199": 9})
    assert run(client_app, "preload")["loaded"] == 200
    loads = [json.loads(call) for call in cache.lrange(LOADS_KEY, 0, -1)]
    assert sorted(loads) == [
        [f"key:{i}" for i in range(100)],
        [f"key:{i}" for i in range(100, 200)],
    ]


def test_by_popularity_must_be_a_boolean(client_app: Celery) -> None:
    with pytest.raises(ValueError, match="by_popularity='yes' is invalid"):
        run(client_app, "preload", by_popularity="yes")


@pytest.mark.parametrize("hot_keys", [250, 0], ids=["batches", "nothing-to-do"])
def test_a_task_chained_after_a_run_receives_its_summary(
    client_app: Celery, cache: redis.Redis, hot_keys: int
) -> None:
    configure(cache, hot_keys=hot_keys)
    preload = client_app.tasks["warming_tasks.preload"]
    receive = client_app.tasks["tests.receive_summary"]
    result = chain(preload.s(), receive.s(note="next")).apply_async()
    received = result.get(timeout=30)
    summary = received["received"]
    assert received["note"] == "next"
    assert (summary["loaded"], summary["batches"]) == (hot_keys, -(-hot_keys // 100))
    assert result.parent.get(timeout=5) == summary, "the run's own result is the same summary"
    if hot_keys:
        assert json.loads(cache.lrange(RUNS_KEY, 0, 0)[0]) == summary


def test_a_link_on_a_run_fires_with_its_summary(client_app: Celery, cache: redis.Redis) -> None:
    configure(cache, hot_keys=150)
    link = client_app.signature("tests.receive_summary", kwargs={"note": "linked"})
    link.set(task_id="the-link")
    run_result = client_app.send_task("warming_tasks.preload", link=link)
    received = client_app.AsyncResult("the-link").get(timeout=30)
    assert received == {"received": run_result.get(timeout=5), "note": "linked"}
    assert received["received"]["loaded"] == 150


@pytest.mark.parametrize("kind", ["preload", "refresh"])
def test_a_batch_whose_counting_failed_is_retried_without_warming_again(
    client_app: Celery, cache: redis.Redis, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """The connection drops as the batch counts what it wrote: the retry counts the
    outcome it carries, and neither loads nor writes again (a refresh that warmed
    again would find nothing due and say it refreshed nothing)."""
    configure(cache, hot_keys=150, record_loads=1)
    if kind == "refresh":
        for i in range(150):
            cache.set(f"key:{i}", "stale", ex=100)  # under the 300 s threshold: due
    dropped: list[int] = []
    count = CacheStore.finish_batch

    def drops_once(self: CacheStore, run_id: str, index: int, *rest: Any) -> bool:
        if index == 1 and not dropped:
            dropped.append(index)
            raise redis.ConnectionError("connection reset by peer")
        return count(self, run_id, index, *rest)

    monkeypatch.setattr(CacheStore, "finish_batch", drops_once)
    summary = run(client_app, kind)

    assert dropped == [1], "the second batch's counting failed once"
    warmed = "loaded" if kind == "preload" else "refreshed"
    assert (summary[warmed], summary["failed"], summary["superseded"]) == (150, 0, 0)
    loads = [k for call in cache.lrange(LOADS_KEY, 0, -1) for k in json.loads(call)]
    assert sorted(loads) == sorted(f"key:{i}" for i in range(150)), "each key loaded once"
    assert cache.get("key:120") == value_for("key:120").encode()
