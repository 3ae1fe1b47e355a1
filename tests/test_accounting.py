"""Which strategy earns its keep: warmed keys read before expiry, as `stats` shows them.

A real worker warms, a real tracker reports the application's reads, and the
user reads the verdict from `warming-tasks stats`.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings
from warming_tasks.tracker import AccessTracker

from .helpers import celery_env, cli
from .support.fixture_sources import CONFIG_KEY

pytestmark = [pytest.mark.integration, pytest.mark.in_process(WARMING_BATCH_SIZE=100)]


def strategies(env: dict[str, str]) -> dict[str, Any]:
    done = cli("stats", "--json", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    rows = {row["strategy"]: row for row in data["strategies"]}
    rows["best"] = data["best_strategy"]
    return rows


def test_stats_says_what_each_strategy_warmed_and_what_was_read(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    env = celery_env(redis_server, WARMING_BATCH_SIZE=100)
    clock = [time.time()]  # the application's clock, moved on below instead of sleeping
    app_reads = AccessTracker(
        load_settings(redis_url=redis_server.url(0), flush_interval=1), clock=lambda: clock[0]
    )
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "500", "ttl": "3600"})
    assert cli("preload", "--json", env=env).returncode == 0

    for i in range(200):  # the application reads 200 of the 500 preloaded keys
        app_reads.track(f"key:{i}")
    for i in range(300):  # and 300 keys nobody warmed
        app_reads.track(f"cold:{i}")
    app_reads.flush()
    rows = strategies(env)
    assert rows["preload"] | {"read_share": None} == {
        "strategy": "preload",
        "warmed": 500,
        "sampled": 50,  # a batch records 10 of the keys it wrote, evenly spread
        "read_before_expiry": 20,
        "expired_unread": 0,
        "read_share": None,
        "verdict": "earns its keep",
        "superseded": 0,
        "kept_stale": 0,
    }
    assert rows["preload"]["read_share"] == 1.0  # of those settled: none expired yet

    # A predictive load of the 300 cold keys with a 1 s TTL that nobody reads again.
    cache.hset(CONFIG_KEY, "ttl", "1")
    done = cli("predict", "--limit", "1000", "--json", env=env)
    assert json.loads(done.stdout)["loaded"] == 300, done.stderr
    # Later: expired (whole seconds: up to 2 s after the write) and past the 2 flush
    # intervals that late reads from other processes may take.
    clock[0] = time.time() + 4.5
    app_reads.track("key:0")  # any flush sweeps expired samples
    app_reads.flush()

    rows = strategies(env)
    predictive = rows["predictive"]
    assert (predictive["warmed"], predictive["sampled"]) == (300, 30)
    assert (predictive["read_before_expiry"], predictive["expired_unread"]) == (0, 30)
    assert predictive["read_share"] == 0.0
    assert predictive["verdict"] == "mostly unread"
    assert rows["refresh"]["verdict"] == "too early to tell"
    assert rows["best"] == "preload"
    assert rows["preload"]["read_before_expiry"] == 20, "key:0 was already settled"

    done = cli("stats", env=env)
    assert done.returncode == 0, done.stderr
    assert "best strategy: preload" in done.stdout
    assert "earns its keep" in done.stdout
