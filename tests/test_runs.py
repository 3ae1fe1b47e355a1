"""The run protocol and the refresh lock, straight on a real Redis (no Celery)."""

from __future__ import annotations

import time

import pytest
import redis

from warming_tasks.constants import REFRESH_LOCK_KEY
from warming_tasks.kinds import Kind, build_summary
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.warmer import Warmer

from .helpers import wait_until


@pytest.fixture
def store(cache: redis.Redis) -> CacheStore:
    s = CacheStore(cache)
    s.start_run("r", {"kind": "preload", "started_at": time.time()})
    return s


def finish(store: CacheStore, index: int, loaded: int = 10) -> bool:
    return store.finish_batch("r", index, {"loaded": loaded}, [])


def summary(store: CacheStore) -> dict[str, object]:
    return build_summary(Kind.PRELOAD, "r", store.run_state("r"), [], time.time())


def test_batches_that_finish_before_dispatch_ends_are_counted(store: CacheStore) -> None:
    assert not finish(store, 0)
    assert not finish(store, 1)
    assert not finish(store, 2)
    assert store.finish_dispatch("r", 3), "all three were done: the dispatcher closes"
    first = summary(store)
    assert first["loaded"] == 30
    assert first["batches"] == 3
    time.sleep(0.01)
    assert summary(store) == first, "finished_at is stamped once: the summary is stable"


def test_a_duplicate_batch_is_counted_once(store: CacheStore) -> None:
    store.finish_dispatch("r", 2)
    assert not finish(store, 0)
    assert not finish(store, 0), "a redelivered batch does not complete the run"
    assert finish(store, 1)
    assert finish(store, 1), "a re-run after the end still says complete (to resend)"
    assert not finish(store, 0), "only the batch that completed the run sends its body"
    store.note_body_sent("r")
    assert not finish(store, 1), "a body that went out is never sent again"
    assert summary(store)["loaded"] == 20


def test_a_run_the_dispatcher_closed_is_not_closed_again_by_a_batch(store: CacheStore) -> None:
    assert not finish(store, 0)
    assert store.finish_dispatch("r", 1), "the dispatcher's result is the body"
    assert store.run_state("r")["body_by"] == "dispatch"
    assert not finish(store, 0), "a redelivered batch does not send a second body"


def test_the_first_complete_dispatch_fixes_the_total(store: CacheStore) -> None:
    assert not store.finish_dispatch("r", 3)
    assert not store.finish_dispatch("r", 5)
    assert store.run_state("r")["total"] == "3"
    assert not finish(store, 0)
    assert not finish(store, 1)
    assert finish(store, 2)


def test_a_redispatch_with_fewer_batches_still_finishes(store: CacheStore) -> None:
    # A first dispatch died after sending batches 0, 5 and 7; the source now has 3.
    for index in (0, 5, 7):
        assert not finish(store, index)
    assert not store.finish_dispatch("r", 3)
    assert not finish(store, 1)
    assert finish(store, 2)


def test_the_lock_is_held_extended_and_released_by_its_token(cache: redis.Redis) -> None:
    store = CacheStore(cache)
    assert store.acquire_lock("a") == "a"
    assert store.acquire_lock("b") == "a"
    assert store.acquire_lock("a") == "a", "re-entrant for a redelivered run"
    assert not store.extend_lock("b")
    assert store.extend_lock("a", ttl_s=100)
    assert 90_000 < cache.pttl(REFRESH_LOCK_KEY) <= 100_000
    assert not store.release_lock("b")
    assert store.release_lock("a")
    assert store.lock_holder() is None


def test_an_expired_lock_is_taken_back_by_its_run_but_not_stolen(cache: redis.Redis) -> None:
    store = CacheStore(cache)
    store.acquire_lock("a", ttl_s=0.05)
    assert wait_until(lambda: store.lock_holder() is None, 5, "the lock expires by itself")
    assert store.extend_lock("a")
    assert store.acquire_lock("b") == "a"


def test_a_key_redis_refuses_fails_alone(cache: redis.Redis) -> None:
    store = CacheStore(cache)
    cache.set("held", "old")
    entries = [("ok", "v", 60), ("huge-ttl", "v", 10**16), ("ok2", "v", 60)]
    entries += [("held", "new", 10**16), ("held-ok", "new", 60)]
    cache.set("held-ok", "old")
    replies = store.write(entries, [None, None, None, b"old", b"old"])
    assert replies[0] is True
    assert isinstance(replies[1], str)
    assert "expire" in replies[1]
    assert replies[2] is True
    assert isinstance(replies[3], str)  # refused inside the compare-and-set: that key alone
    assert "expire" in replies[3]
    assert replies[4] is True
    assert cache.get("held") == b"old"
    assert cache.get("held-ok") == b"new"

    class Source:
        def hot_keys(self) -> list[str]:
            return ["ok", "huge-ttl"]

        def load(self, key: str) -> tuple[str, int]:
            return "v", 10**16 if key == "huge-ttl" else 60

    warmer = Warmer(store, Source(), load_settings(ttl_jitter=0))
    result = warmer.preload(["ok", "huge-ttl"])
    assert result.counts == {"loaded": 1, "missing": 0, "failed": 1, "superseded": 0}
    assert result.errors[0]["key"] == "huge-ttl"
    assert result.errors[0]["reason"].startswith("Redis refused the write: ")
