"""``beat``: the entries ``beat_entries`` schedules, and a real celery beat process
scheduling refresh runs."""

from __future__ import annotations

import pytest
import redis

from warming_tasks.beat import PREDICTIVE_ENTRY, REFRESH_ENTRY, STALLED_ENTRY, beat_entries
from warming_tasks.settings import load_settings

from .helpers import Starter, wait_until
from .support.fixture_sources import CONFIG_KEY, value_for


@pytest.mark.integration
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


def test_beat_entries_follow_the_intervals() -> None:
    entries = beat_entries(load_settings(refresh_interval=5, predictive_interval=0))
    assert entries == {
        REFRESH_ENTRY: {
            "task": "warming_tasks.refresh",
            "schedule": 5.0,
            "options": {"expires": 5.0},
        },
        STALLED_ENTRY: {
            "task": "warming_tasks.close_stalled_runs",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
    }
    entries = beat_entries(load_settings(predictive_interval=120, run_stall_s=20))
    assert entries[PREDICTIVE_ENTRY]["task"] == "warming_tasks.predictive_load"
    assert entries[PREDICTIVE_ENTRY]["schedule"] == 120.0
    assert entries[STALLED_ENTRY]["schedule"] == 5.0  # four checks per stall period


def test_a_warming_queue_is_put_on_beat_entries() -> None:
    entries = beat_entries(load_settings(queue="warming", predictive_interval=30))
    assert entries[REFRESH_ENTRY]["options"] == {"expires": 60.0, "queue": "warming"}
    assert entries[PREDICTIVE_ENTRY]["options"] == {"expires": 30.0, "queue": "warming"}
