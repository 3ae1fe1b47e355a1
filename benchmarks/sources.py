"""Benchmark sources: answers cost nothing, so the figures measure warming-tasks itself."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence

import redis
from redis.cluster import RedisCluster

VALUE = "x" * 100
TTL_S = 3600
KEYS_SETTING = "bench:config:keys"  # in the cache db: the harness changes N between runs


def bench_key(i: int) -> str:
    return f"bench:{i}"


class InstantSource:
    """``bench:0`` … ``bench:N-1``, 100-byte values, TTL 3600.

    N is read at each run from ``bench:config:keys`` in the cache Redis, else from
    BENCH_KEYS, so one worker serves every workload of the harness.
    """

    def __init__(self) -> None:
        self.default = int(os.environ.get("BENCH_KEYS", "100000"))
        url = os.environ.get("WARMING_REDIS_URL")
        cluster = os.environ.get("WARMING_REDIS_CLUSTER", "").lower() in ("1", "true", "yes")
        self.client: redis.Redis | RedisCluster | None = None
        if url:
            self.client = RedisCluster.from_url(url) if cluster else redis.Redis.from_url(url)

    def _count(self) -> int:
        if self.client is not None:
            raw = self.client.get(KEYS_SETTING)
            if raw is not None:
                return int(raw)
        return self.default

    def hot_keys(self) -> Iterator[str]:
        return (bench_key(i) for i in range(self._count()))

    def load(self, key: str) -> tuple[str, int] | None:
        return VALUE, TTL_S

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        return dict.fromkeys(keys, (VALUE, TTL_S))


def product(i: int) -> dict[str, object]:
    """An object an application caches: about 100 bytes as JSON."""
    return {"id": i, "name": f"Product {i}", "price_cents": 100 + i % 9_900, "stock": i % 50}


class ObjectSource(InstantSource):
    """``bench:<i>`` as objects for a framework format, or (BENCH_VALUES=json) as the
    JSON text a raw user would write."""

    def __init__(self) -> None:
        super().__init__()
        self.as_json = os.environ.get("BENCH_VALUES") == "json"

    def load(self, key: str) -> tuple[object, int] | None:  # type: ignore[override]
        value = product(int(key.partition(":")[2]))
        return (json.dumps(value) if self.as_json else value), TTL_S

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[object, int]]:  # type: ignore[override]
        dumps = json.dumps if self.as_json else None
        found: dict[str, tuple[object, int]] = {}
        for key in keys:
            value = product(int(key.partition(":")[2]))
            found[key] = (dumps(value) if dumps else value), TTL_S
        return found
