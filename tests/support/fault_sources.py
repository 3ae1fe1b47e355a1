"""Data sources for the fault-injection suite (tests/faults), named in WARMING_SOURCE.

Their knobs and their counters live in a *control* Redis named by
``FAULTS_CONTROL_URL``: never the cache nor the broker, so a test can stop either
of those without breaking the source itself. Knobs are read from the hash
``faults:config`` there, falling back to ``FAULTS_*`` environment variables.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import redis

from warming_tasks.errors import SourceUnavailable

CONFIG_KEY = "faults:config"
GATE_KEY = "faults:gate"  # set by a test: listing the hot keys goes on past ``gate_after``
LOADS_KEY = "faults:loads"  # hash: key -> how many times load_many/load was asked for it
CALLS_KEY = "faults:calls"  # list of JSON {"t0", "t1", "pid", "keys"}: one per load_many call
LOADING_KEY = "faults:loading"  # list of JSON key lists: a load_many has started on them
RELEASE_KEY = "faults:release"  # set by a test: a load_many held by ``hold`` goes on
BIG_VALUE_BYTES = 10 * 1024 * 1024
BIG_KEY_BYTES = 32_000  # the values of the keys named in ``big``: too large for a script

_client: redis.Redis | None = None
_client_pid = 0


def control() -> redis.Redis:
    """The control Redis, one client per process (rebuilt after fork)."""
    global _client, _client_pid  # noqa: PLW0603 - one client per process, made again after a fork
    if _client is None or _client_pid != os.getpid():
        _client = redis.Redis.from_url(os.environ["FAULTS_CONTROL_URL"], decode_responses=True)
        _client_pid = os.getpid()
    return _client


def config() -> dict[str, str]:
    conf = {k[7:].lower(): v for k, v in os.environ.items() if k.startswith("FAULTS_")}
    stored: dict[str, str] = control().hgetall(CONFIG_KEY)  # type: ignore[assignment]
    conf.update(stored)
    return conf


def value_for(key: str) -> str:
    return f"value-of:{key}"


class Counting:
    """``key:0`` … ``key:N-1`` (N = ``keys``); every load is counted in the control Redis.

    ``sleep``: seconds each ``load_many`` takes; ``ttl``: the TTL it returns;
    ``gate_after``: the listing stops after that many keys until the test sets
    ``GATE_KEY``; ``hold``: each ``load_many`` says so in ``LOADING_KEY`` and waits
    for ``RELEASE_KEY`` (the test plays the application meanwhile); ``hold_keys``:
    keys, comma-separated: only a ``load_many`` asked for one of them does as
    ``hold`` says (a test stops chosen batches mid-run, the others go on);
    ``unavailable``: its database is down (``SourceUnavailable``); ``raising``:
    keys, comma-separated, whose rows raise; ``gone``: keys it has no data for;
    ``big``: keys whose values are ``BIG_KEY_BYTES`` long.
    """

    def hot_keys(self) -> Iterator[str]:
        conf = config()
        gate_after = int(conf.get("gate_after", "-1"))
        for i in range(int(conf.get("keys", "100"))):
            while i == gate_after and not control().exists(GATE_KEY):
                time.sleep(0.02)
            yield f"key:{i}"

    def load(self, key: str) -> tuple[str, int] | None:
        if key in config().get("raising", "").split(","):
            raise RuntimeError(f"row {key} is corrupt")
        return self.load_many([key]).get(key)

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        conf = config()
        t0 = time.time()
        held = set(filter(None, conf.get("hold_keys", "").split(",")))
        if conf.get("hold") or held.intersection(keys):
            control().rpush(LOADING_KEY, json.dumps(list(keys)))
            deadline = time.monotonic() + 60
            while not control().exists(RELEASE_KEY) and time.monotonic() < deadline:
                time.sleep(0.01)
        if conf.get("unavailable"):
            raise SourceUnavailable("the database is down")
        raising = set(filter(None, conf.get("raising", "").split(",")))
        if raising.intersection(keys):
            raise RuntimeError("a row of this batch is corrupt")
        time.sleep(float(conf.get("sleep", "0")))
        ttl = int(conf.get("ttl", "3600"))
        pipe = control().pipeline()
        for key in keys:
            pipe.hincrby(LOADS_KEY, key, 1)
        record = {"t0": t0, "t1": time.time(), "pid": os.getpid(), "keys": list(keys)}
        pipe.rpush(CALLS_KEY, json.dumps(record))
        pipe.execute()
        gone = set(conf.get("gone", "").split(","))
        big = set(conf.get("big", "").split(","))
        return {
            k: (value_for(k).ljust(BIG_KEY_BYTES, "x") if k in big else value_for(k), ttl)
            for k in keys
            if k not in gone
        }


# -- bad entries: what a buggy source can hand back --------------------------------------

# key -> (entry the source returns, a phrase the failure reason must contain)
BAD_ENTRIES: dict[str, tuple[Any, str]] = {
    "bad:value-none": ((None, 60), "value must be str or bytes, got NoneType"),
    "bad:value-int": ((42, 60), "value must be str or bytes, got int"),
    "bad:value-list": ((["a", "b"], 60), "value must be str or bytes, got list"),
    "bad:not-a-pair": ("just a string", "expected (value, ttl), got str"),
    "bad:ttl-0": (("v", 0), "ttl must be a positive int, got 0"),
    "bad:ttl-minus-1": (("v", -1), "ttl must be a positive int, got -1"),
    "bad:ttl-float": (("v", 1.5), "ttl must be a positive int, got float 1.5"),
    "bad:ttl-str": (("v", "60"), "ttl must be a positive int, got str '60'"),
    "bad:big": (("x" * BIG_VALUE_BYTES, 60), f"value is {BIG_VALUE_BYTES} bytes, over"),
}
RAISING_KEY = "bad:raises"
RAISING_REASON = "RuntimeError: row bad:raises is corrupt"
NO_DATA_KEY = "none:no-data"  # load() returns None: no data, counted missing
GOOD_KEYS = [f"good:{i}" for i in range(20)]


def _bad_entry(key: str) -> Any:
    if key == RAISING_KEY:
        raise RuntimeError(f"row {key} is corrupt")
    if key == NO_DATA_KEY:
        return None
    if key in BAD_ENTRIES:
        return BAD_ENTRIES[key][0]
    return value_for(key), 3600


class BadEntries:
    """Good keys mixed with every kind of bad entry; only ``load`` (adapted per key).

    The raising key is included: ``load`` raises for it alone.
    """

    def hot_keys(self) -> list[str]:
        return [*GOOD_KEYS[:10], RAISING_KEY, NO_DATA_KEY, *BAD_ENTRIES, *GOOD_KEYS[10:]]

    def load(self, key: str) -> Any:
        return _bad_entry(key)


class BadEntriesMany(BadEntries):
    """The same keys; ``load_many`` raises for the batch (it holds the raising key),
    so the suite must fall back to ``load`` per key."""

    def load_many(self, keys: Sequence[str]) -> Mapping[str, Any]:
        if RAISING_KEY in keys:
            raise RuntimeError("one row of this batch is corrupt")
        return {k: _bad_entry(k) for k in keys if k != NO_DATA_KEY}


class BadEntriesMapping:
    """Bad entries handed back inside ``load_many``'s mapping (no raising key)."""

    def hot_keys(self) -> list[str]:
        return [*GOOD_KEYS[:10], NO_DATA_KEY, *BAD_ENTRIES, *GOOD_KEYS[10:]]

    def load(self, key: str) -> Any:
        raise AssertionError("load_many answered: load must not be called")

    def load_many(self, keys: Sequence[str]) -> Mapping[str, Any]:
        return {k: _bad_entry(k) for k in keys if k != NO_DATA_KEY}


# -- odd keys ------------------------------------------------------------------------------

ODD_KEYS = [
    "ключ:товар:42",
    "商品:価格",
    "emoji:🔥:🚀",
    "key with spaces",
    "  leading and trailing  ",
    "line\nbreak",
    "carriage\r\nreturn\ttab",
    "a:b:c::d:",
    ":",
    "quote'\"back\\slash",
    "{warming}:not-ours",
    "k" * 1024,
    "é" * 512,  # 1 KB of two-byte characters
]


class OddKeys:
    """Keys that are unicode, hold spaces, newlines, colons, or are 1 KB long."""

    def hot_keys(self) -> list[str]:
        return list(ODD_KEYS)

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        return {k: (value_for(k), 3600) for k in keys}

    def load(self, key: str) -> tuple[str, int]:
        return value_for(key), 3600


BYTES_KEYS = [b"bytes:plain", "bytes:ключ".encode()]


class BytesKeys:
    """A source whose hot keys are ``bytes`` (the protocol says ``str``)."""

    def hot_keys(self) -> list[bytes]:
        return list(BYTES_KEYS)

    def load(self, key: Any) -> tuple[str, int]:
        text = key.decode() if isinstance(key, bytes) else str(key)
        return value_for(text), 3600
