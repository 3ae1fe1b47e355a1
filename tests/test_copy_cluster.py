"""``warming-tasks copy`` from and to a Redis Cluster (3 masters each, started by
the tests), with real worker processes: every master of the other cluster is listed,
keys land on every master of the cache, values and TTLs as they were; the hottest
keys of a cluster ranked by its masters' LFU counters."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.cluster import RedisCluster

from benchmarks.support.cluster import RedisClusterProcess

from .copying import Client, contents, fill, same_contents, summary_of
from .helpers import Processes, Stack, cli

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cache_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcess]:
    with RedisClusterProcess(replicas=0, base_dir=tmp_path_factory.mktemp("cache")) as running:
        yield running


@pytest.fixture(scope="module")
def other_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterProcess]:
    with RedisClusterProcess(replicas=0, base_dir=tmp_path_factory.mktemp("other")) as running:
        yield running


def emptied(cluster: RedisClusterProcess) -> RedisCluster:
    client = RedisCluster.from_url(cluster.url())
    client.flushdb(target_nodes=RedisCluster.PRIMARIES)
    return client


def copy(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = cli("copy", *args, "--json", env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return summary_of(done)


def on_every_master(cluster: RedisClusterProcess) -> list[int]:
    sizes = []
    for node in cluster.masters():
        client = node.client()
        sizes.append(int(client.dbsize()))
        client.close()
    return sizes


@pytest.mark.timeout(180)
@pytest.mark.parametrize("way", ["server to cluster", "cluster to cluster", "cluster to server"])
def test_copy_from_and_to_a_redis_cluster(
    way: str,
    stack: Stack,
    procs: Processes,
    cache_cluster: RedisClusterProcess,
    other_cluster: RedisClusterProcess,
) -> None:
    from_cluster, to_cluster = way.startswith("cluster"), way.endswith("cluster")
    there: Client = emptied(other_cluster) if from_cluster else stack.broker.client(3)
    other_url = other_cluster.url() if from_cluster else stack.broker.url(3)
    if not from_cluster:
        there.flushdb()
    cache: Client = emptied(cache_cluster) if to_cluster else stack.cache_client()
    settings = (
        {"WARMING_REDIS_URL": cache_cluster.url(), "WARMING_REDIS_CLUSTER": "true"}
        if to_cluster
        else {}
    )
    env = stack.env(**settings)
    procs.worker(env)
    keys = fill(there, 3000, size=50)
    keys += fill(there, 3, prefix="forever:", ttl_s=None)
    cache.set("key:7", "the cache's own", ex=60)
    if from_cluster:
        assert min(on_every_master(other_cluster)) > 900, "keys on every master there"

    summary = copy(env, "--from", other_url, "--all", "--persistent")
    assert (summary["copied"], summary["skipped_existing"], summary["failed"]) == (3002, 1, 0)
    assert summary["listing"] == "scan"
    keys.remove("key:7")
    assert same_contents(contents(cache, keys), contents(there, keys)) == []
    assert cache.get("key:7") == b"the cache's own"
    if to_cluster:
        assert min(on_every_master(cache_cluster)) > 900, "keys on every master here"


@pytest.mark.timeout(180)
def test_the_hottest_keys_of_a_cluster_by_its_masters_lfu_counters(
    stack: Stack,
    procs: Processes,
    cache_cluster: RedisClusterProcess,
    other_cluster: RedisClusterProcess,
) -> None:
    there = emptied(other_cluster)
    for node in other_cluster.masters():
        client = node.client()
        client.config_set("maxmemory-policy", "allkeys-lfu")
        client.config_set("lfu-log-factor", 0)
        client.close()
    try:
        fill(there, 600)
        hottest = ["key:17", "key:401", "key:99"]  # on different masters, most likely
        for reads, key in zip((40, 30, 20), hottest, strict=True):
            for _ in range(reads):
                there.get(key)
        cache = emptied(cache_cluster)
        env = stack.env(WARMING_REDIS_URL=cache_cluster.url(), WARMING_REDIS_CLUSTER="true")
        procs.worker(env)
        summary = copy(env, "--from", other_cluster.url(), "--top", "3")
        assert (summary["listing"], summary["copied"]) == ("object_freq", 3)
        copied = cache.keys("key:*", target_nodes=RedisCluster.PRIMARIES)
        assert sorted(copied) == sorted(key.encode() for key in hottest)
    finally:
        for node in other_cluster.masters():
            client = node.client()
            client.config_set("maxmemory-policy", "noeviction")
            client.close()
