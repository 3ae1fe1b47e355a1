"""Keys that are unicode, hold spaces, newlines or colons, are 1 KB long — or are
bytes — round-trip exactly, with and without WARMING_KEY_PREFIX."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from warming_tasks import tracker
from warming_tasks.settings import load_settings

from ..helpers import Processes, Stack
from ..support.fault_sources import BYTES_KEYS, ODD_KEYS, value_for

pytestmark = [pytest.mark.faults, pytest.mark.integration]

PREFIXES = ["", "app:"]


def user_keys(cache: redis.Redis, prefix: str) -> set[bytes]:
    """What the cache holds besides the suite's own records."""
    own = f"{prefix}{{warming}}:".encode()
    odd_own = f"{prefix}{{warming}}:not-ours".encode()
    return {k for k in cache.scan_iter(count=1000) if not k.startswith(own) or k == odd_own}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_odd_keys_round_trip_through_preload(stack: Stack, procs: Processes, prefix: str) -> None:
    """A preload writes each odd key under exactly its name (after the prefix), with its
    value and TTL, and nothing else."""
    assert max(len(k.encode()) for k in ODD_KEYS) >= 1024
    procs.worker(stack.env(source="fault_sources:OddKeys", WARMING_KEY_PREFIX=prefix))
    summary = stack.caller().send_task("warming_tasks.preload").get(timeout=30)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (len(ODD_KEYS), 0, 0)

    cache = stack.cache_client()
    expected = {f"{prefix}{k}".encode() for k in ODD_KEYS}
    assert user_keys(cache, prefix) == expected
    for key in ODD_KEYS:
        assert cache.get(f"{prefix}{key}") == value_for(key).encode(), repr(key)
        assert cache.ttl(f"{prefix}{key}") > 3000


@pytest.fixture
def app_tracker(stack: Stack, request: pytest.FixtureRequest) -> Iterator[str]:
    """track_access in this process, pointed at the stack's cache with a prefix."""
    prefix: str = request.param
    tracker.reset(load_settings(redis_url=stack.cache.url(0), key_prefix=prefix))
    yield prefix
    tracker.reset()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("app_tracker", PREFIXES, indirect=True)
def test_odd_keys_round_trip_through_tracking_and_predictive_load(
    stack: Stack, procs: Processes, app_tracker: str
) -> None:
    """Odd keys tracked with track_access in this process all become candidates of a
    predictive load, which writes each under exactly its name, with its value."""
    prefix = app_tracker
    procs.worker(stack.env(source="fault_sources:OddKeys", WARMING_KEY_PREFIX=prefix))
    for n, key in enumerate(ODD_KEYS):
        for _ in range(n + 1):
            tracker.track_access(key)
    assert tracker.flush_access() == sum(range(1, len(ODD_KEYS) + 1))

    summary = (
        stack.caller()
        .send_task("warming_tasks.predictive_load", kwargs={"limit": 100})
        .get(timeout=30)
    )
    assert (summary["candidates"], summary["loaded"], summary["failed"]) == (
        len(ODD_KEYS),
        len(ODD_KEYS),
        0,
    )
    cache = stack.cache_client()
    assert user_keys(cache, prefix) == {f"{prefix}{k}".encode() for k in ODD_KEYS}
    for key in ODD_KEYS:
        assert cache.get(f"{prefix}{key}") == value_for(key).encode(), repr(key)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_bytes_keys_round_trip_or_fail_clearly(stack: Stack, procs: Processes, prefix: str) -> None:
    """A source whose keys are bytes: either each is written under its exact bytes with
    its value, or each fails with a reason that says bytes; none is written under its
    repr."""
    procs.worker(stack.env(source="fault_sources:BytesKeys", WARMING_KEY_PREFIX=prefix))
    summary = stack.caller().send_task("warming_tasks.preload").get(timeout=30)
    cache = stack.cache_client()
    wrong = {k for k in user_keys(cache, prefix) if k.startswith(f"{prefix}b'".encode())}
    assert not wrong, f"bytes keys written under their repr: {wrong}"
    written = summary["loaded"]
    if written:  # accepted: each under its exact bytes, with its value
        assert written == len(BYTES_KEYS)
        for key in BYTES_KEYS:
            assert cache.get(prefix.encode() + key) == value_for(key.decode()).encode()
    else:  # refused: each key failed with a reason that says why
        assert summary["failed"] == len(BYTES_KEYS)
        assert all("bytes" in e["reason"] for e in summary["errors"])
