"""Where a tracking backend counts: the Redis its cache talks to, never a guess.

Behind Sentinel a cache's configuration names a service, not a host; the backend
must not turn it into ``<service>:6379`` (or ``localhost:6379``) and count into a
server that is not the cache's. Pure: no connection is made.
"""

from __future__ import annotations

import redis
from redis.sentinel import Sentinel

from warming_tasks.django import _behind_sentinel
from warming_tasks.flask import _location


def test_a_flask_cache_behind_sentinel_names_no_url_to_count_into() -> None:
    master = Sentinel([("127.0.0.1", 1)]).master_for("mymaster")
    assert _location(master) is None


def test_a_flask_cache_on_a_host_or_socket_counts_into_that_redis() -> None:
    assert _location(redis.Redis(host="cache", port=6380, db=2)) == "redis://cache:6380/2"
    assert _location(redis.Redis(unix_socket_path="/run/r.sock", db=3)) == (
        "unix:///run/r.sock?db=3"
    )


def test_a_django_redis_cache_with_sentinels_is_behind_sentinel() -> None:
    sentinels = {"OPTIONS": {"SENTINELS": [("127.0.0.1", 26379)]}}
    assert _behind_sentinel(sentinels)
