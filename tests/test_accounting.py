"""Which strategy earns its keep: warmed keys read before expiry, as `stats` shows them.

A real worker warms, a real tracker reports the application's reads, and the
user reads the verdict from `warming-tasks stats`. Below it, without a server, the
arithmetic behind the verdict (``maths.accounting``): which written keys a batch
samples, a strategy's share of settled samples read, and the best strategy.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.maths.accounting import StrategyAccount, accounts, best, sample
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


@pytest.mark.parametrize(
    ("written", "expected"),
    [(0, 0), (1, 1), (10, 10), (11, 6), (100, 10), (1000, 10), (100_000, 10)],
)
def test_a_batch_samples_at_most_10_keys_evenly(written: int, expected: int) -> None:
    picked = sample(list(range(written)))
    assert len(picked) == expected
    assert picked == sorted(set(picked)), "each once, in batch order"
    if written:
        assert picked[0] == 0
        assert written - 1 - picked[-1] < written / expected, "spread to the batch's end"


@pytest.mark.parametrize(
    ("read", "expired", "share", "verdict"),
    [
        (0, 0, None, "too early to tell"),
        (19, 0, 1.0, "too early to tell"),
        (10, 10, 0.5, "earns its keep"),
        (30, 70, 0.3, "partly read"),
        (9, 91, 0.09, "mostly unread"),
    ],
)
def test_a_strategy_is_judged_by_the_share_of_settled_samples_read(
    read: int, expired: int, share: float | None, verdict: str
) -> None:
    row = StrategyAccount("preload", warmed=1000, sampled=100, read=read, expired=expired)
    assert row.read_share == share
    assert row.verdict == verdict


def test_counters_become_rows_and_the_best_strategy() -> None:
    rows = accounts(
        {"warmed:0": 500, "sampled:0": 500, "read:0": 40, "expired:0": 60}
        | {"warmed:2": 30, "sampled:2": 30, "read:2": 25, "expired:2": 5}
        | {"warmed:1": 9, "read:1": 9}
    )
    assert [(r.strategy, r.warmed, r.read, r.expired) for r in rows] == [
        ("preload", 500, 40, 60),
        ("refresh", 9, 9, 0),
        ("predictive", 30, 25, 5),
    ]
    assert best(rows) == "predictive", "refresh read every key, but 9 settle nothing"
    assert best(accounts({})) is None
