"""The application's own writes win: a value it wrote while a batch was loading the
key is never replaced by the source's older one, whatever TTL it gave it; and with
WARMING_STALE_IF_ERROR a refresh that cannot reload a key keeps serving its value,
within the grace. Real worker processes, a real cache Redis, the application
played by the test between the batch's look and its write."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
from prometheus_client import generate_latest

from warming_tasks.constants import STALE_KEY
from warming_tasks.ops.metrics import registry_for
from warming_tasks.ops.stats import collect
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore

from .helpers import Processes, Stack, await_summary, record_reads, wait_until
from .support.fault_sources import CONFIG_KEY, LOADING_KEY, RELEASE_KEY, value_for

pytestmark = pytest.mark.integration

KEYS = [f"key:{i}" for i in range(10)]
PERSIST = "persist"


def configure(ctl: redis.Redis, **knobs: object) -> None:
    ctl.hset(CONFIG_KEY, mapping={k: str(v) for k, v in knobs.items()})


def mid_load(stack: Stack, ctl: redis.Redis, task: str, app_writes: dict[str, Any]) -> Any:
    """Start ``task``; once its batch has looked at its keys and is loading them, the
    application writes ``app_writes`` (key: (value, ex or None to delete)); then the
    load goes on; a value of ``PERSIST`` removes the key's TTL instead. The run's summary."""
    result = stack.caller().send_task(f"warming_tasks.{task}")
    wait_until(lambda: ctl.llen(LOADING_KEY) > 0, 30, "the batch starts loading")
    assert json.loads(ctl.lindex(LOADING_KEY, 0) or "[]"), "the batch loads some keys"
    cache = stack.cache_client()
    for key, (value, ex) in app_writes.items():
        if value is None:
            cache.delete(key)
        elif value == PERSIST:
            cache.persist(key)
        else:
            cache.set(key, value, ex=ex)
    ctl.set(RELEASE_KEY, 1)
    return await_summary(result, 30, cache)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("app_ttl_s", [7200, 30], ids=["longer-ttl", "shorter-ttl"])
def test_refresh_never_overwrites_what_the_application_wrote_during_the_load(
    stack: Stack, procs: Processes, ctl: redis.Redis, app_ttl_s: int
) -> None:
    cache = stack.cache_client()
    for key in KEYS:
        cache.set(key, f"old:{key}", ex=100)  # under the 300 s threshold: due
    configure(ctl, keys=len(KEYS), hold=1, ttl=3600)
    procs.worker(stack.env(WARMING_TTL_JITTER=0), concurrency=1)

    summary = mid_load(stack, ctl, "refresh", {"key:3": ("app-new", app_ttl_s)})

    assert (summary["refreshed"], summary["superseded"], summary["failed"]) == (9, 1, 0)
    assert cache.get("key:3") == b"app-new"
    # With the application's TTL, not the source's 3,600 s.
    low = 3600 if app_ttl_s > 3600 else 0
    assert low < cache.ttl("key:3") <= app_ttl_s
    for key in ("key:2", "key:4"):  # its neighbours in the batch are refreshed
        assert cache.get(key) == value_for(key).encode()
        assert 3590 <= cache.ttl(key) <= 3600
    assert shown(cache, "refresh", "superseded") == (
        1,
        'warming_keys_superseded_total{strategy="refresh"} 1.0',
    )


@pytest.mark.timeout(90)
def test_refresh_never_brings_back_a_key_deleted_or_made_persistent_during_the_load(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    cache = stack.cache_client()
    for key in KEYS:
        cache.set(key, f"old:{key}", ex=100)
    configure(ctl, keys=len(KEYS), hold=1, ttl=3600)
    procs.worker(stack.env(WARMING_TTL_JITTER=0), concurrency=1)

    summary = mid_load(stack, ctl, "refresh", {"key:3": (None, None), "key:4": (PERSIST, None)})

    assert (summary["refreshed"], summary["superseded"], summary["failed"]) == (8, 2, 0)
    assert not cache.exists("key:3"), "an invalidated key is not brought back"
    assert cache.get("key:4") == b"old:key:4"
    assert cache.ttl("key:4") == -1, "a key made persistent keeps no TTL of ours"
    assert cache.get("key:5") == value_for("key:5").encode()


@pytest.mark.timeout(90)
def test_preload_never_overwrites_what_the_application_wrote_during_the_load(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    cache = stack.cache_client()
    for key in ("key:4", "key:5", "key:6"):  # held before: replaced only if unchanged
        cache.set(key, f"old:{key}", ex=600)
    configure(ctl, keys=len(KEYS), hold=1, ttl=3600)
    procs.worker(stack.env(WARMING_TTL_JITTER=0), concurrency=1)

    writes = {
        "key:3": ("app-new", 60),
        "key:4": (None, None),
        "key:5": ("app-new", 60),
        "key:7": (None, None),
    }
    summary = mid_load(stack, ctl, "preload", writes)

    # key:7 was absent when looked at and is still absent: the preload writes it.
    assert (summary["loaded"], summary["superseded"], summary["failed"]) == (7, 3, 0)
    assert shown(cache, "preload", "superseded")[0] == 3
    assert cache.get("key:3") == b"app-new"
    assert not cache.exists("key:4"), "a key the application deleted is not brought back"
    assert cache.get("key:5") == b"app-new"
    assert 0 < cache.ttl("key:5") <= 60
    for key in ("key:6", "key:7", "key:9"):
        assert cache.get(key) == value_for(key).encode()
        assert 3590 <= cache.ttl(key) <= 3600


@pytest.mark.timeout(90)
def test_predictive_never_overwrites_what_the_application_wrote_during_the_load(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    cache = stack.cache_client()
    record_reads(cache, {key: 3 for key in KEYS})
    configure(ctl, keys=len(KEYS), hold=1, ttl=3600)
    procs.worker(stack.env(WARMING_TTL_JITTER=0), concurrency=1)

    summary = mid_load(stack, ctl, "predictive_load", {"key:3": ("app-new", 30)})

    assert (summary["loaded"], summary["superseded"], summary["failed"]) == (9, 1, 0)
    assert cache.get("key:3") == b"app-new"
    assert cache.get("key:4") == value_for("key:4").encode()


def shown(cache: redis.Redis, strategy: str, count: str) -> tuple[int, str]:
    """``count`` of ``strategy`` as ``stats`` has it, and the metric's line."""
    store = CacheStore(cache)
    rows = collect(store, load_settings(), top=5)["strategies"]
    scrape = generate_latest(registry_for(store)).decode()
    metric = f'warming_keys_{count}_total{{strategy="{strategy}"}}'
    line = next(line for line in scrape.splitlines() if line.startswith(metric))
    return next(row[count] for row in rows if row["strategy"] == strategy), line


def refresh(stack: Stack) -> dict[str, Any]:
    result = stack.caller().send_task("warming_tasks.refresh")
    return await_summary(result, 30, stack.cache_client())


@pytest.mark.timeout(90)
def test_stale_if_error_keeps_a_failing_key_past_its_expiry_until_its_bound(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    configure(ctl, keys=3, raising="key:0", gone="key:1")
    procs.worker(stack.env(WARMING_STALE_IF_ERROR=5), concurrency=1)
    cache = stack.cache_client()
    for key in ("key:0", "key:1", "key:2"):
        cache.set(key, f"old:{key}", px=15_000)
    expiry_ms = int(cache.pexpiretime("key:0"))  # Redis' clock
    gone_expiry_ms = int(cache.pexpiretime("key:1"))

    summary = refresh(stack)

    assert (summary["refreshed"], summary["failed"], summary["kept_stale"]) == (1, 1, 1)
    assert shown(cache, "refresh", "kept_stale") == (
        1,
        'warming_keys_kept_stale_total{strategy="refresh"} 1.0',
    )
    assert cache.get("key:2") == value_for("key:2").encode()
    # Kept to its bound: 5 s past the expiry it had when first kept.
    assert cache.zscore(STALE_KEY, "key:0") == expiry_ms
    assert int(cache.pexpiretime("key:0")) == expiry_ms + 5000
    assert cache.get("key:0") == b"old:key:0"
    # The key the source says is gone is never kept: it expires on its own.
    assert int(cache.pexpiretime("key:1")) == gone_expiry_ms

    # A second failing refresh keeps it as it is: the bound never moves.
    summary = refresh(stack)
    assert (summary["failed"], summary["kept_stale"]) == (1, 0)
    assert int(cache.pexpiretime("key:0")) == expiry_ms + 5000
    wait_until(lambda: not cache.exists("key:1"), 30, "the gone key expires on its own")
    assert cache.get("key:0") == b"old:key:0", "served past its own expiry"
    wait_until(lambda: not cache.exists("key:0"), 30, "the kept key is gone at its bound")


@pytest.mark.timeout(90)
def test_stale_if_error_is_off_by_default(stack: Stack, procs: Processes, ctl: redis.Redis) -> None:
    configure(ctl, keys=1, raising="key:0")
    procs.worker(stack.env(), concurrency=1)
    cache = stack.cache_client()
    cache.set("key:0", "old:key:0", px=10_000)

    summary = refresh(stack)

    assert (summary["failed"], summary["kept_stale"]) == (1, 0)
    assert 0 < cache.pttl("key:0") <= 10_000
    assert not cache.exists(STALE_KEY)


@pytest.mark.timeout(120)
def test_stale_if_error_keeps_keys_through_a_source_outage_and_a_reload_ends_it(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    configure(ctl, keys=len(KEYS), unavailable=1)
    procs.worker(stack.env(WARMING_STALE_IF_ERROR=600), concurrency=1)
    cache = stack.cache_client()
    for key in KEYS:
        cache.set(key, f"old:{key}", px=20_000)

    result = stack.caller().send_task("warming_tasks.refresh")
    # The batch finds the database down and is retried; meanwhile every due key
    # outlives its own expiry.
    wait_until(lambda: cache.pttl("key:0") > 60_000, 30, "the due keys are kept")
    assert all(cache.get(key) == f"old:{key}".encode() for key in KEYS)
    assert cache.zcard(STALE_KEY) == len(KEYS)
    ctl.hdel(CONFIG_KEY, "unavailable")  # the database is back

    summary = await_summary(result, 60, cache)

    assert (summary["refreshed"], summary["failed"]) == (len(KEYS), 0)
    assert summary["kept_stale"] == len(KEYS), "kept by the tries that found it down"
    assert cache.get("key:0") == value_for("key:0").encode()
    assert cache.zcard(STALE_KEY) == 0, "a reload ends the grace"
