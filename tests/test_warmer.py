"""One batch against a real Redis, without Celery: what lands in the cache."""

from __future__ import annotations

import random

import pytest
import redis

from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.warmer import Warmer

from .support.dict_source import DictSource, Entry


def warmer(cache: redis.Redis, source: object, **settings: object) -> Warmer:
    conf = load_settings(**settings)
    return Warmer(CacheStore(cache, conf.key_prefix), source, conf, random.Random(1))  # type: ignore[arg-type]


def test_refresh_never_resurrects_a_key_deleted_during_the_load(cache: redis.Redis) -> None:
    cache.set("gone", "old", ex=60)
    cache.set("kept", "old", ex=60)
    source = DictSource(
        {"gone": ("new", 3600), "kept": ("new", 3600)}, during_load=lambda: cache.delete("gone")
    )
    result = warmer(cache, source).refresh(["gone", "kept"])
    assert result.counts["refreshed"] == 1
    assert result.counts["superseded"] == 1
    assert not cache.exists("gone")
    assert cache.get("kept") == b"new"


def test_a_write_that_needs_a_ttl_never_writes_a_key_it_saw_absent(cache: redis.Redis) -> None:
    """The store's own guard, whatever its caller filtered: a refresh's write of a
    key that had expired before the batch looked is left alone, not brought back."""
    store = CacheStore(cache)
    replies = store.write([("expired", b"new", 3600), ("due", b"new", 3600)], [None, b"old"], True)
    assert replies == [False, False]
    assert not cache.exists("expired")
    assert not cache.exists("due"), "nor one whose value is not the one it saw"


def test_refresh_never_touches_a_key_made_persistent_during_the_load(cache: redis.Redis) -> None:
    cache.set("pinned", "old", ex=60)
    source = DictSource({"pinned": ("new", 3600)}, during_load=lambda: cache.persist("pinned"))
    warmer(cache, source).refresh(["pinned"])
    assert cache.get("pinned") == b"old"
    assert cache.ttl("pinned") == -1


def test_predictive_never_overwrites_a_value_written_during_the_load(cache: redis.Redis) -> None:
    source = DictSource(
        {"hot": ("from-source", 3600), "cold": ("from-source", 3600)},
        during_load=lambda: cache.set("hot", "from-app"),
    )
    result = warmer(cache, source).predict(["hot", "cold"])
    assert result.counts == {
        "candidates": 2,
        "loaded": 1,
        "missing": 0,
        "failed": 0,
        "already_cached": 0,
        "superseded": 1,
    }
    assert cache.get("hot") == b"from-app"
    assert cache.get("cold") == b"from-source"


def test_bad_entries_fail_alone_and_are_never_written(cache: redis.Redis) -> None:
    data: dict[str, Entry] = {
        "good": ("v", 60),
        "zero-ttl": ("v", 0),
        "negative-ttl": ("v", -1),
        "float-ttl": ("v", 1.5),
        "string-ttl": ("v", "60"),
        "number-value": (42, 60),
        "huge": ("x" * 2048, 60),
        "bytes": (b"\x00\xffraw", 60),
    }
    result = warmer(cache, DictSource(data), max_value_bytes=1024, ttl_jitter=0).preload(
        [*data, "absent"]
    )
    assert result.counts == {"loaded": 2, "missing": 1, "failed": 6, "superseded": 0}
    failed = {e["key"] for e in result.errors}
    assert failed == set(data) - {"good", "bytes"}
    assert cache.get("good") == b"v"
    assert cache.ttl("good") == 60
    assert cache.get("bytes") == b"\x00\xffraw"
    assert sorted(k.decode() for k in cache.scan_iter()) == ["bytes", "good"]


@pytest.mark.parametrize("bulk", [True, False])
def test_a_raising_key_fails_alone_with_or_without_load_many(
    cache: redis.Redis, bulk: bool
) -> None:
    data: dict[str, Entry] = {f"k{i}": (f"v{i}", 60) for i in range(100)}
    data["k42"] = RuntimeError("row locked")  # type: ignore[assignment]
    result = warmer(cache, DictSource(data, bulk=bulk)).preload(list(data))
    assert result.counts == {"loaded": 99, "missing": 0, "failed": 1, "superseded": 0}
    assert result.errors == [{"key": "k42", "reason": "RuntimeError: row locked"}]
    assert cache.get("k41") == b"v41"


def test_the_key_prefix_is_put_before_every_key(cache: redis.Redis) -> None:
    source = DictSource({"user:1": ("alice", 60)})
    w = warmer(cache, source, key_prefix="app:")
    assert w.preload(["user:1"]).counts["loaded"] == 1
    assert cache.get("app:user:1") == b"alice"
    assert not cache.exists("user:1")
    cache.expire("app:user:1", 10)
    assert w.refresh(["user:1"]).counts["refreshed"] == 1
    assert cache.ttl("app:user:1") > 50


def test_large_values_are_guarded_too(cache: redis.Redis) -> None:
    """Values too large for a script go a key at a time under WATCH: the guard holds."""
    big = b"v" * 300_000
    for key in ("kept", "changed", "unchanged"):
        cache.set(key, big, ex=100)
    source = DictSource(
        {key: ("new" * 100_000, 3600) for key in ("kept", "changed", "unchanged")},
        during_load=lambda: cache.set("changed", big + b"!", ex=30),
    )
    source.data["kept"] = RuntimeError("row locked")  # type: ignore[assignment]
    result = warmer(cache, source, stale_if_error=600).refresh(["kept", "changed", "unchanged"])
    counts = result.counts
    assert (counts["refreshed"], counts["superseded"], counts["kept_stale"]) == (1, 1, 1)
    assert cache.get("unchanged") == b"new" * 100_000
    assert cache.get("changed") == big + b"!"
    assert 0 < cache.ttl("changed") <= 30
    assert cache.get("kept") == big
    assert cache.ttl("kept") > 100, "kept past its own expiry"

    source.data["kept"] = ("new", 3600)
    source.during_load = lambda: cache.set("unchanged", b"app", ex=30)
    counts = warmer(cache, source).preload(["kept", "unchanged"]).counts
    assert (counts["loaded"], counts["superseded"]) == (1, 1)
    assert cache.get("kept") == b"new"
    assert cache.get("unchanged") == b"app"


def test_a_key_of_another_type_is_left_alone_and_fails_nothing(cache: redis.Redis) -> None:
    cache.hset("hash", "field", "the application's")
    cache.set("held", "old", ex=100)
    source = DictSource({"hash": ("new", 3600), "held": ("new", 3600), "absent": ("new", 3600)})
    counts = warmer(cache, source).preload(["hash", "held", "absent"]).counts
    assert (counts["loaded"], counts["superseded"], counts["failed"]) == (2, 1, 0)
    assert cache.hget("hash", "field") == b"the application's"
    cache.set("held", "old", ex=100)
    counts = warmer(cache, source).refresh(["hash", "held"]).counts
    assert (counts["refreshed"], counts["not_due"], counts["failed"]) == (1, 1, 0)
    assert cache.type("hash") == b"hash"
