"""Data sources the tests name in WARMING_SOURCE.

Knobs come from TEST_* env vars, overridden per test by the hash ``test:config``
in the cache database, so one worker can serve many scenarios.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import cast

import redis

CONFIG_KEY = "test:config"


def value_for(key: str) -> str:
    return f"value-of:{key}"


def _config() -> dict[str, str]:
    conf = {k[5:].lower(): v for k, v in os.environ.items() if k.startswith("TEST_")}
    # On a cluster cache the knobs live in a plain Redis of the test's (TEST_CONFIG_URL).
    url = os.environ.get("TEST_CONFIG_URL") or os.environ["WARMING_REDIS_URL"]
    client = redis.Redis.from_url(url, decode_responses=True)
    conf.update(cast(dict[str, str], client.hgetall(CONFIG_KEY)))
    client.close()
    return conf


LOADS_KEY = "test:loads"


def _record_loads(keys: Sequence[str]) -> None:
    """Append the keys of one ``load_many`` call, in order, to a list the test reads."""
    client = redis.Redis.from_url(os.environ["WARMING_REDIS_URL"])
    client.rpush(LOADS_KEY, json.dumps(list(keys)))
    client.close()


class Catalogue:
    """``key:0`` … ``key:N-1`` hot, plus ``unknown:*`` hot keys that have no data."""

    def hot_keys(self) -> Iterator[str]:
        conf = _config()
        fail_after = int(conf.get("hot_keys_fail_after", "-1"))
        for i in range(int(conf.get("hot_keys", "500"))):
            if i == fail_after:
                raise ConnectionResetError("the database went away while listing keys")
            yield f"key:{i}"
        yield from (f"unknown:{i}" for i in range(int(conf.get("unknown_keys", "0"))))

    def load(self, key: str) -> tuple[str, int] | None:
        conf = _config()
        if key in conf.get("failing_keys", "").split(","):
            raise RuntimeError(f"database row for {key} is corrupt")
        if key.startswith("unknown:"):
            return None
        return value_for(key), int(conf.get("ttl", "3600"))

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        conf = _config()
        if conf.get("record_loads"):
            _record_loads(keys)
        time.sleep(float(conf.get("batch_sleep", "0")))
        if set(conf.get("failing_keys", "").split(",")).intersection(keys):
            raise RuntimeError("one row in this batch is corrupt")
        ttl = int(conf.get("ttl", "3600"))
        return {k: (value_for(k), ttl) for k in keys if not k.startswith("unknown:")}


class LoadOnly:
    """A source with only ``load``: the suite adapts it."""

    def hot_keys(self) -> list[str]:
        return [f"key:{i}" for i in range(int(_config().get("hot_keys", "50")))]

    def load(self, key: str) -> tuple[str, int] | None:
        return value_for(key), 3600


class BatchOnly:
    """A source with ``hot_keys`` and ``load_many`` alone, as a SQL-backed one is."""

    def hot_keys(self) -> Iterator[str]:
        return Catalogue().hot_keys()

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        bad = set(_config().get("failing_keys", "").split(",")).intersection(keys)
        if bad:
            # A query over many rows fails for all of them; over one, it names it.
            raise RuntimeError(
                f"database row for {keys[0]} is corrupt" if len(keys) == 1 else "a corrupt row"
            )
        return {k: (value_for(k), 3600) for k in keys}


def broken_factory() -> Catalogue:
    raise RuntimeError("the database is not configured")


class _Family:
    """``<prefix>:0`` … ``<prefix>:N-1`` (N: the knob ``<prefix>_keys``, default
    ``count``); a value carries the knob ``<prefix>_version`` so a test can change
    the data; each ``load_many`` call is recorded (``LOADS_KEY``), with the knob
    ``warm_sleep`` seconds spent in it (the application writes meanwhile)."""

    prefix = ""
    count = 0

    def hot_keys(self) -> list[str]:
        n = int(_config().get(f"{self.prefix}_keys", str(self.count)))
        return [f"{self.prefix}:{i}" for i in range(n)]

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        conf = _config()
        _record_loads(keys)
        time.sleep(float(conf.get("warm_sleep", "0")))
        version = conf.get(f"{self.prefix}_version", "1")
        return {k: (f"{value_for(k)}:v{version}", 3600) for k in keys}


class Products(_Family):
    """The product family: its own keys, batch size and refresh interval."""

    prefix, count = "product", 7
    keys = "product:*"
    batch_size = 3
    refresh_interval = 2.0


class Users(_Family):
    prefix, count = "user", 5
    keys = "user:*"
    batch_size = 2
    refresh_interval = 5.0
