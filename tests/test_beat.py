"""A real celery beat process schedules refresh runs."""

from __future__ import annotations

import pytest
import redis

from .helpers import Starter, wait_until
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = pytest.mark.integration


def test_beat_refreshes_an_expiring_key_within_seconds(
    start_worker: Starter, start_beat: Starter, cache: redis.Redis
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "5"})
    cache.set("key:0", "stale", ex=100)
    cache.set("key:1", "fresh enough", ex=3000)
    start_worker(WARMING_REFRESH_INTERVAL=1)
    beat = start_beat(WARMING_REFRESH_INTERVAL=1)
    wait_until(lambda: cache.get("key:0") != b"stale", 20, "beat's refresh reloads key:0")
    assert cache.get("key:0") == value_for("key:0").encode()
    assert cache.ttl("key:0") > 3000
    assert cache.get("key:1") == b"fresh enough"
    assert "warming_tasks.refresh" in beat.log()
