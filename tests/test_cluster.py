"""A Redis Cluster cache (3 masters, 1 replica each) started by the tests, real workers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery import Celery
from redis.cluster import RedisCluster

from benchmarks.support.cluster import RedisClusterProcess
from warming_tasks import tracker
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.tracker import AccessTracker
from warming_tasks.warmer import Warmer

from .helpers import Processes, StackFactory, Starter, wait_until
from .support import fault_sources as faults
from .support.dict_source import DictSource
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcess]:
    with RedisClusterProcess(base_dir=tmp_path_factory.mktemp("cluster")) as running:
        yield running


@pytest.fixture
def cache(cluster: RedisClusterProcess, redis_server: RedisProcess) -> Iterator[RedisCluster]:
    """The cluster, emptied before each test (it is ours); knobs in the plain Redis."""
    client = RedisCluster.from_url(cluster.url())
    client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    redis_server.client(0).flushdb()
    yield client
    client.close()


@pytest.fixture(scope="module")
def worker(start_worker: Starter, cluster: RedisClusterProcess, redis_server: RedisProcess) -> Any:
    return start_worker(
        WARMING_REDIS_URL=cluster.url(),
        WARMING_REDIS_CLUSTER="true",
        WARMING_KEY_PREFIX="app:",
        WARMING_BATCH_SIZE=50,
        TEST_CONFIG_URL=redis_server.url(0),
    )


def configure(server: RedisProcess, **conf: object) -> None:
    server.client(0).hset(CONFIG_KEY, mapping={k: str(v) for k, v in conf.items()})


def run(app: Celery, name: str, **kwargs: Any) -> dict[str, Any]:
    summary: dict[str, Any] = app.send_task(f"warming_tasks.{name}", kwargs=kwargs).get(timeout=90)
    return summary


@pytest.mark.usefixtures("worker")
def test_preload_spreads_keys_over_every_master(
    client_app: Celery,
    cache: RedisCluster,
    redis_server: RedisProcess,
    cluster: RedisClusterProcess,
) -> None:
    configure(redis_server, hot_keys=1000, unknown_keys=3)
    summary = run(client_app, "preload")
    assert (summary["loaded"], summary["missing"], summary["batches"]) == (1000, 3, 21)
    assert cache.get("app:key:999") == value_for("key:999").encode()
    assert 3240 <= cache.ttl("app:key:0") <= 3600
    per_master = [m.client().dbsize() for m in cluster.masters()]
    assert len(per_master) == 3
    assert min(per_master) > 250, f"the prefix must not force one slot: {per_master}"


@pytest.mark.usefixtures("worker")
def test_refresh_on_a_cluster(
    client_app: Celery, cache: RedisCluster, redis_server: RedisProcess
) -> None:
    configure(redis_server, hot_keys=200)
    for i in range(200):
        cache.set(f"app:key:{i}", "stale", ex=100 if i < 20 else 3000)
    cache.persist("app:key:20")
    cache.delete("app:key:21")
    summary = run(client_app, "refresh")
    assert (summary["checked"], summary["refreshed"], summary["failed"]) == (200, 20, 0)
    assert cache.get("app:key:19") == value_for("key:19").encode()
    assert cache.get("app:key:25") == b"stale"
    assert cache.ttl("app:key:20") == -1
    assert not cache.exists("app:key:21")
    assert not cache.exists("app:{warming}:lock:refresh")


@pytest.mark.usefixtures("worker")
def test_predictive_on_a_cluster(
    client_app: Celery, cache: RedisCluster, cluster: RedisClusterProcess
) -> None:
    tracker.reset(load_settings(redis_url=cluster.url(), redis_cluster=True, key_prefix="app:"))
    try:
        for key, reads in (("a", 30), ("b", 20), ("c", 1)):
            for _ in range(reads):
                tracker.track_access(key)
        assert tracker.flush_access() == 51
    finally:
        tracker.reset()
    cache.set("app:b", "written-by-app")
    summary = run(client_app, "predictive_load", limit=2)
    assert (summary["candidates"], summary["loaded"]) == (1, 1)
    assert cache.get("app:a") == value_for("a").encode()
    assert cache.get("app:b") == b"written-by-app"
    assert not cache.exists("app:c")


# What each kind finds before its load (held: "old:<key>" with this TTL; absent
# otherwise), what the application does while the batch loads (a value and TTL, None
# to delete, "persist"), and the keys the run must leave as the application left them.
RACES: dict[str, tuple[dict[int, int], dict[int, tuple[str, int] | str | None]]] = {
    "refresh": (
        dict.fromkeys(range(30), 100),
        {3: ("app-longer", 7200), 4: ("app-shorter", 30), 5: None, 6: "persist"},
    ),
    "preload": (
        dict.fromkeys(range(15), 600),
        {3: ("app-longer", 7200), 4: ("app-shorter", 30), 5: None, 20: ("app-new", 30)},
    ),
    "predictive_load": ({}, {20: ("app-new", 7200), 21: ("app-shorter", 30)}),
}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("kind", list(RACES))
def test_on_a_cluster_what_the_application_writes_during_the_load_stays(  # noqa: PLR0913, PLR0917 - pytest fixtures
    make_stack: StackFactory,
    procs: Processes,
    ctl: redis.Redis,
    cache: RedisCluster,
    cluster: RedisClusterProcess,
    kind: str,
) -> None:
    """Real workers on the cluster: while a batch loads its keys the application
    writes some (longer and shorter TTLs), deletes one and makes one persistent;
    every one of them stays as the application left it, the rest are warmed."""
    stack = make_stack()  # a broker of the test's own; the cache is the cluster
    env = stack.env(WARMING_REDIS_URL=cluster.url(), WARMING_REDIS_CLUSTER="true")
    procs.worker(env | {"WARMING_TTL_JITTER": "0"}, concurrency=1)
    held, app_writes = RACES[kind]
    keys = [f"key:{i}" for i in range(30)]
    for i, ttl in held.items():
        cache.set(keys[i], f"old:{keys[i]}", ex=ttl)
    if kind == "predictive_load":
        reads = AccessTracker(load_settings(redis_url=cluster.url(), redis_cluster=True))
        for key in keys:
            reads.track(key)
        assert reads.flush() == len(keys)
        reads.close()
    ctl.hset(faults.CONFIG_KEY, mapping={"keys": len(keys), "hold": 1, "ttl": 3600})

    result = stack.caller().send_task(f"warming_tasks.{kind}")
    wait_until(lambda: ctl.llen(faults.LOADING_KEY) > 0, 60, "the batch starts loading")
    for i, write in app_writes.items():
        if write is None:
            cache.delete(keys[i])
        elif isinstance(write, str):
            cache.persist(keys[i])
        else:
            cache.set(keys[i], write[0], ex=write[1])
    ctl.set(faults.RELEASE_KEY, 1)
    summary = result.get(timeout=60)

    warmed = "refreshed" if kind == "refresh" else "loaded"
    assert (summary[warmed], summary["superseded"], summary["failed"]) == (
        len(keys) - len(app_writes),
        len(app_writes),
        0,
    )
    for i, write in app_writes.items():
        if write is None:
            assert not cache.exists(keys[i]), "a key the application deleted stays deleted"
        elif isinstance(write, str):  # made persistent
            assert cache.get(keys[i]) == f"old:{keys[i]}".encode()
            assert cache.ttl(keys[i]) == -1, "a key the application made persistent stays so"
        else:
            assert cache.get(keys[i]) == write[0].encode()
            assert write[1] - 10 < cache.ttl(keys[i]) <= write[1], "with the application's TTL"
    for i in set(range(30)) - set(app_writes):
        assert cache.get(keys[i]) == faults.value_for(keys[i]).encode()
        assert 3590 <= cache.ttl(keys[i]) <= 3600


def test_the_guards_hold_on_a_cluster(cache: RedisCluster) -> None:
    """Keys on every master: what the application writes mid-load stays, with a
    longer or a shorter TTL; the neighbours are written; stale-if-error keeps."""
    keys = [f"k:{i}" for i in range(60)]
    for key in keys:
        cache.set(f"app:{key}", "old", ex=100)

    def application() -> None:
        cache.set("app:k:1", "app-longer", ex=7200)
        cache.set("app:k:2", "app-shorter", ex=20)
        cache.delete("app:k:3")

    source = DictSource({key: ("new", 3600) for key in keys}, during_load=application)
    settings = load_settings(ttl_jitter=0, stale_if_error=600)
    warmer = Warmer(CacheStore(cache, "app:"), source, settings)  # type: ignore[arg-type]
    counts = warmer.refresh(keys).counts
    assert (counts["refreshed"], counts["superseded"]) == (57, 3)
    assert cache.get("app:k:1") == b"app-longer"
    assert cache.get("app:k:2") == b"app-shorter"
    assert 0 < cache.ttl("app:k:2") <= 20
    assert not cache.exists("app:k:3")
    assert cache.get("app:k:59") == b"new"

    for key in keys:
        cache.set(f"app:{key}", "old", ex=100)
    cache.delete("app:k:5")
    source.during_load = lambda: (
        cache.set("app:k:5", "app", ex=30) and cache.set("app:k:6", "app", ex=30)
    )
    counts = warmer.preload(keys).counts
    assert (counts["loaded"], counts["superseded"]) == (58, 2)
    assert (cache.get("app:k:5"), cache.get("app:k:6")) == (b"app", b"app")

    cache.delete("app:k:7", "app:k:8")
    source.during_load = lambda: cache.set("app:k:7", "app", ex=30)
    counts = warmer.predict(keys).counts
    assert (counts["loaded"], counts["superseded"], counts["already_cached"]) == (1, 1, 58)
    assert (cache.get("app:k:7"), cache.get("app:k:8")) == (b"app", b"new")

    cache.set("app:k:9", "old", ex=100)
    source.during_load = None
    source.data["k:9"] = RuntimeError("row locked")  # type: ignore[assignment]
    counts = warmer.refresh(["k:9"]).counts
    assert (counts["failed"], counts["kept_stale"]) == (1, 1)
    assert cache.ttl("app:k:9") > 100, "kept past its own expiry"


@pytest.mark.usefixtures("worker")
def test_a_master_killed_mid_preload_fails_over_and_loses_no_key(
    client_app: Celery,
    cache: RedisCluster,
    redis_server: RedisProcess,
    cluster: RedisClusterProcess,
) -> None:
    configure(redis_server, hot_keys=1500, batch_sleep=0.1)
    result = client_app.send_task("warming_tasks.preload")
    keys = [f"app:key:{i}" for i in range(1500)]

    def written() -> int:
        return sum(1 for key in keys if cache.exists(key))

    wait_until(lambda: written() >= 200, 30, "some batches written")
    victim = cluster.masters()[0]
    victim.stop(kill=True)  # SIGKILL: no goodbye to the cluster
    assert not result.ready(), "the kill landed mid-run"
    summary = result.get(timeout=120)
    assert (summary["loaded"], summary["failed"]) == (1500, 0), summary.get("errors")
    cluster.wait_healthy()
    assert len(cluster.masters()) == 3, "a replica was promoted"
    survivor = RedisCluster.from_url(cluster.nodes[1].url(0).rsplit("/", 1)[0])
    missing = [i for i in range(1500) if survivor.get(f"app:key:{i}") is None]
    survivor.close()
    assert missing == []
