"""The refresh lock under two beats by mistake, a slow source, and the death of the
worker holding it.

Every hot key is cached with a TTL under the refresh threshold and the source
hands back such TTLs again, so every refresh run finds every key due: a run that
overlapped another would load keys twice in one tick.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from typing import Any

import pytest
import redis

from warming_tasks.constants import REFRESH_LOCK_KEY, REFRESH_LOCK_TTL_S, RUNS_KEY

from ..helpers import Processes, Stack, kill_family, nothing_to_run, wait_until
from ..support.fault_sources import CALLS_KEY, CONFIG_KEY, LOADS_KEY, value_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

KEYS = [f"key:{i}" for i in range(20)]
DUE_TTL = 100  # under WARMING_REFRESH_THRESHOLD (300): always due


def cache_due_keys(cache: redis.Redis, ctl: redis.Redis, sleep: float) -> None:
    """Every key cached with a TTL that is due; the source gives due TTLs again and
    each load_many takes ``sleep`` seconds."""
    for key in KEYS:
        cache.set(key, "stale", ex=DUE_TTL)
    ctl.hset(CONFIG_KEY, mapping={"keys": len(KEYS), "ttl": DUE_TTL, "sleep": sleep})


def refresh_runs(cache: redis.Redis) -> list[dict[str, Any]]:
    runs = [json.loads(r) for r in cache.lrange(RUNS_KEY, 0, -1)]
    return sorted((r for r in runs if r["kind"] == "refresh"), key=lambda r: r["started_at"])


def load_calls(ctl: redis.Redis) -> list[dict[str, Any]]:
    return [json.loads(c) for c in ctl.lrange(CALLS_KEY, 0, -1)]


@pytest.mark.timeout(90)
def test_two_beats_by_mistake_never_overlap_runs_nor_double_load(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    """Two beat processes tick refresh every second while a run takes longer than half a
    tick: the lock turns a tick away at least once, no two recorded runs overlap, each
    run loads each key exactly once, and the last run releases the lock."""
    cache = stack.cache_client()
    cache_due_keys(cache, ctl, sleep=0.7)  # a run outlasts half a tick: the two beats must collide
    env = stack.env(WARMING_REFRESH_INTERVAL=1, WARMING_BATCH_SIZE=10)
    worker = procs.worker(env, concurrency=3)
    beats = [procs.beat(env), procs.beat(env)]
    wait_until(lambda: len(refresh_runs(cache)) >= 10, 30, "ten refresh runs", every=0.2)
    for b in beats:
        b.stop()
    # Only once what the beats left queued has run (or expired unrun) and the worker
    # holds nothing does the lock's absence show that the last run released it.
    caller, broker = stack.caller(), stack.broker.client(1)
    stack.clients.append(broker)
    wait_until(
        lambda: nothing_to_run(caller, broker, workers=1),
        30,
        "the queue drained and the worker idle",
        every=0.2,
    )
    assert not cache.exists(REFRESH_LOCK_KEY), "the last run released its lock"

    sent = [b.log().count("Sending due task warming-tasks: refresh") for b in beats]
    assert min(sent) >= 5, f"both beats ticked: {sent}"
    skipped = worker.log().count("a refresh run is in progress")
    assert skipped >= 1, "the beats collided at least once and the lock turned one away"

    runs = refresh_runs(cache)
    for earlier, later in itertools.pairwise(runs):
        end = earlier["started_at"] + earlier["duration_s"]
        assert later["started_at"] >= end - 0.002, f"runs overlap: {earlier} / {later}"
    for run in runs:
        assert (run["checked"], run["refreshed"], run["failed"]) == (20, 20, 0), run

    # Each load of the source falls inside exactly one run, and no run loads a key twice.
    calls = load_calls(ctl)
    per_run: list[Counter[str]] = [Counter() for _ in runs]
    for call in calls:
        owners = [
            i
            for i, run in enumerate(runs)
            if run["started_at"] <= call["t0"] <= run["started_at"] + run["duration_s"]
        ]
        assert len(owners) == 1, f"a load outside any recorded run: {call}"
        per_run[owners[0]].update(call["keys"])
    for i, counted in enumerate(per_run):
        assert set(counted) == set(KEYS), f"run {i} loaded {sorted(counted)}"
        assert max(counted.values()) == 1, f"run {i} loaded a key twice: {counted}"
    loads = {k: int(v) for k, v in ctl.hgetall(LOADS_KEY).items()}
    assert loads == dict.fromkeys(KEYS, len(runs))
    assert all(cache.get(k) == value_for(k).encode() for k in KEYS)


@pytest.mark.timeout(240)
def test_a_slow_source_skips_ticks_and_its_dead_holder_does_not_deadlock(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    """A source that takes 4 s a batch: ticks during the run are skipped, naming the run
    that holds the lock. The worker holding it is then killed: the lock keeps its
    expiry, a new worker finishes the dead run and releases it, and ticks run again."""
    cache = stack.cache_client()
    cache_due_keys(cache, ctl, sleep=4.0)  # every load_many outlasts four refresh intervals
    env = stack.env(WARMING_REFRESH_INTERVAL=1, WARMING_BATCH_SIZE=10)
    caller = stack.caller()
    first = procs.worker(env, concurrency=3)  # two slow batches, one child for the ticks
    beat = procs.beat(env)

    # A run starts and holds the lock; the ticks that follow it are turned away.
    holder = wait_until(lambda: cache.get(REFRESH_LOCK_KEY), 15, "a run holds the lock")
    holder = holder.decode()
    summary = caller.send_task("warming_tasks.refresh").get(timeout=15)
    assert summary["skipped"] == f"a refresh run is in progress: {holder}"
    assert (summary["checked"], summary["refreshed"], summary["failed"]) == (0, 0, 0)
    wait_until(
        lambda: first.log().count(f"a refresh run is in progress: {holder}") >= 1,
        10,
        "beat ticks skipped while the run goes on",
    )
    assert cache.get(REFRESH_LOCK_KEY) == holder.encode()
    assert refresh_runs(cache) == [], "no run finished: none overlapped the slow one"

    # The worker running the slow batches dies with the lock held.
    assert ctl.llen(CALLS_KEY) == 0, "the kill comes while the batches are loading"
    kill_family(first)
    pttl = cache.pttl(REFRESH_LOCK_KEY)
    assert 0 < pttl <= REFRESH_LOCK_TTL_S * 1000, "the orphaned lock expires by itself"
    assert cache.get(REFRESH_LOCK_KEY) == holder.encode()

    # A new worker: the dead run's batches come back (visibility timeout), finish it
    # and release the lock; later ticks run again.
    ctl.hset(CONFIG_KEY, "sleep", "0")
    second = procs.worker(env, concurrency=3)
    # The new worker's start, the 5 s visibility timeout and kombu's next restore
    # sweep come one after another; on two loaded cores that took over 30 s once,
    # over 60 s once more (2026-12-06, a full run 10% slower than usual).
    wait_until(
        lambda: any(r["run_id"] == holder for r in refresh_runs(cache)),
        150,
        "the dead worker's run finished by the new worker",
        every=0.2,
    )
    wait_until(lambda: len(refresh_runs(cache)) >= 3, 20, "ticks run again", every=0.2)
    beat.stop()
    wait_until(lambda: not cache.exists(REFRESH_LOCK_KEY), 15, "the lock released")
    runs = refresh_runs(cache)
    dead = next(r for r in runs if r["run_id"] == holder)
    assert (dead["checked"], dead["refreshed"], dead["failed"]) == (20, 20, 0), dead
    for run in runs:
        assert run["refreshed"] == 20, run
    assert "warming_tasks.refresh_batch" in second.log()
    assert all(cache.get(k) == value_for(k).encode() for k in KEYS)
