"""A strategy switched off makes its task a no-op that says so."""

from __future__ import annotations

import pytest
import redis
from celery import Celery

pytestmark = [pytest.mark.integration, pytest.mark.in_process(WARMING_STRATEGY="preload")]


def test_only_the_chosen_strategy_runs(client_app: Celery, cache: redis.Redis) -> None:
    cache.set("key:0", "stale", ex=10)
    refresh = client_app.send_task("warming_tasks.refresh").get(timeout=30)
    predictive = client_app.send_task("warming_tasks.predictive_load").get(timeout=30)
    assert refresh["skipped"] == ("strategy background_refresh is off (WARMING_STRATEGY=preload)")
    assert (refresh["checked"], refresh["refreshed"], refresh["failed"]) == (0, 0, 0)
    assert predictive["skipped"] == "strategy predictive is off (WARMING_STRATEGY=preload)"
    assert (predictive["candidates"], predictive["loaded"], predictive["failed"]) == (0, 0, 0)
    assert cache.get("key:0") == b"stale"
    preload = client_app.send_task("warming_tasks.preload").get(timeout=30)
    assert "skipped" not in preload
    assert preload["loaded"] == 500
