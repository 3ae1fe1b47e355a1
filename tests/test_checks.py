"""Operational checks against a real Redis configured each way, and the worker log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from warming_tasks.ops.checks import eviction_warning, persistence_warning, startup_warnings
from warming_tasks.store import CacheStore

from .helpers import Starter


@pytest.fixture
def configured(cache: redis.Redis) -> Iterator[redis.Redis]:
    before: dict[str, str] = {
        k: str(cache.config_get(k)[k]) for k in ("maxmemory-policy", "save", "appendonly")
    }
    yield cache
    for key, value in before.items():
        cache.config_set(key, value)


@pytest.mark.parametrize(
    ("policy", "warns", "about"),
    [
        ("noeviction", False, ""),
        ("volatile-lru", False, ""),
        ("volatile-lfu", False, ""),
        ("allkeys-lru", True, "access-frequency set"),
        ("allkeys-lfu", True, "access-frequency set"),
        ("allkeys-random", True, "access-frequency set"),
        ("volatile-ttl", True, "refresh lock"),
        ("volatile-random", True, "refresh lock"),
    ],
)
def test_eviction_policies(configured: redis.Redis, policy: str, warns: bool, about: str) -> None:
    configured.config_set("maxmemory-policy", policy)
    warning = eviction_warning(CacheStore(configured))
    if warns:
        assert warning is not None
        assert f"maxmemory-policy={policy}" in warning
        assert about in warning
    else:
        assert warning is None


@pytest.mark.parametrize(
    ("save", "appendonly", "warns"),
    [("", "no", True), ("3600 1", "no", False), ("", "yes", False)],
)
def test_persistence(configured: redis.Redis, save: str, appendonly: str, warns: bool) -> None:
    configured.config_set("save", save)
    configured.config_set("appendonly", appendonly)
    warning = persistence_warning(CacheStore(configured))
    assert (warning is not None) is warns
    if warns:
        assert "a restart forgets the access frequencies" in (warning or "")


def test_the_worker_logs_the_warnings_at_start(
    configured: redis.Redis, start_worker: Starter
) -> None:
    configured.config_set("maxmemory-policy", "allkeys-lru")
    configured.config_set("save", "")
    configured.config_set("appendonly", "no")
    assert len(startup_warnings(CacheStore(configured))) == 2
    worker = start_worker()
    worker.wait_for("maxmemory-policy=allkeys-lru", timeout=10)
    worker.wait_for("persists nothing", timeout=10)
    assert "WARNING" in next(line for line in worker.log().splitlines() if "allkeys-lru" in line)
