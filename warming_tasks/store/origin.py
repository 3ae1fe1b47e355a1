"""The other Redis a copy reads from (``warming-tasks copy --from URL``): listed,
ranked and read, never written. A single server or a Redis Cluster, found out by
asking it (``INFO cluster``), so ``--from`` takes any node's URL.

Every command is small: ``SCAN`` a page of ``COPY_SCAN_COUNT`` keys, ``OBJECT
FREQ`` and ``DUMP``/``GET`` and ``PTTL`` one key each (pipelined, a round trip per
batch), the frequency set a page of ``RANK_PAGE`` members.

Keys travel as text in Celery's JSON: a Redis key that is not UTF-8 is carried with
its bytes escaped (``surrogateescape``) and turned back into the same bytes here.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, ResponseError

from .. import constants as c
from ..errors import CopyArgumentError
from ..records import CopyMethod
from ..retries import TRANSIENT
from ..settings import redact_url
from . import wire
from .base import text, topology_guard
from .client import Client

_SCHEMES = ("redis", "rediss", "unix")
LFU_POLICIES = ("allkeys-lfu", "volatile-lfu")
OWN_KEYS = f"{c.TAG}:".encode()  # the suite's own records, locks and rankings
# The name of the copy's connections to the other server (CLIENT LIST, SLOWLOG).
CLIENT_NAME = "warming-tasks-copy"
# Each aggregate type's O(1) length command.
_LENGTH = {"hash": "HLEN", "list": "LLEN", "set": "SCARD", "zset": "ZCARD", "stream": "XLEN"}
_MAX_BYTES = f"{c.COPY_MAX_STRING_BYTES // 1024:,} KB"


def key_text(key: bytes) -> str:
    """A Redis key as text for the Celery wire; ``key_bytes`` gives the bytes back."""
    return key.decode("utf-8", "surrogateescape")


def key_bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode("utf-8", "surrogateescape")


@dataclass(frozen=True)
class Read:
    """One key as the other server gave it: the value (``DUMP``'s payload or
    ``GET``'s bytes; None: no such key), its PTTL (-2 gone, -1 no expiry), or the
    error it answered for that key (a non-string under ``GET``)."""

    value: bytes | None
    pttl_ms: int
    error: str | None = None


def connect_origin(url: str) -> Client:
    """A client for the other server, a cluster's where it runs one; CopyArgumentError
    for a URL that names none (the password never in the message)."""
    shown = redact_url(url)
    if urlsplit(url).scheme not in _SCHEMES:
        raise CopyArgumentError(
            f"--from {shown} is invalid: the scheme must be one of {', '.join(_SCHEMES)}"
        )
    options: dict[str, Any] = {
        "socket_connect_timeout": c.CACHE_SOCKET_TIMEOUT_S,
        "socket_timeout": c.CACHE_SOCKET_TIMEOUT_S,
        "client_name": CLIENT_NAME,
    }
    try:
        single = redis.Redis.from_url(url, **options)
    except ValueError as exc:
        raise CopyArgumentError(f"--from {shown} is invalid: {exc}") from None
    try:
        clustered = int(single.info("cluster").get("cluster_enabled", 0)) == 1
    except BaseException:
        single.close()
        raise
    if not clustered:
        return single
    single.close()
    parts = urlsplit(url)
    if parts.path.strip("/") not in ("", "0"):
        raise CopyArgumentError(f"--from {shown} is invalid: a Redis Cluster has only db 0")
    try:
        return RedisCluster.from_url(
            urlunsplit((parts.scheme, parts.netloc, "", parts.query, parts.fragment)), **options
        )
    except RedisClusterException as exc:
        raise CopyArgumentError(f"--from {shown}: the cluster cannot be used: {exc}") from None


class Origin:
    """The warm Redis a copy reads from: never written to."""

    def __init__(self, client: Client, shown: str, prefix: str = "") -> None:
        """``shown``: its URL with the password masked; ``prefix``: WARMING_KEY_PREFIX,
        before the suite's own keys there (its frequency set) as here."""
        self.client = client
        self.shown = shown
        self.prefix = prefix
        self.cluster = isinstance(client, RedisCluster)

    @classmethod
    def from_url(cls, url: str, prefix: str = "") -> Origin:
        return cls(connect_origin(url), redact_url(url), prefix)

    def close(self) -> None:
        self.client.close()

    def identity(self) -> tuple[str, int] | None:
        """A single server's ``run_id`` and database, to tell it from the cache; None
        for a cluster."""
        if self.cluster:
            return None
        node = self._nodes()[0]
        info = node.info("server")
        return str(info.get("run_id", "")), int(node.connection_pool.connection_kwargs.get("db", 0))

    def _nodes(self) -> list[redis.Redis]:
        """A client per node that holds keys: the one server, or each primary."""
        if isinstance(self.client, RedisCluster):
            cluster: Any = self.client  # redis-py leaves these untyped
            return [cluster.get_redis_connection(node) for node in cluster.get_primaries()]
        return [self.client]

    # -- listing ---------------------------------------------------------------------

    def scan(self) -> Iterator[str]:
        """Every key, ``COPY_SCAN_COUNT`` a call, node after node; the suite's own keys
        (``{warming}:…``) are skipped. SCAN may name a key twice while the server
        resizes its table: the second copy finds it there (``skipped_existing``)."""
        for node in self._nodes():
            cursor = 0
            while True:
                with self._topology_guard():
                    cursor, keys = node.scan(cursor, count=c.COPY_SCAN_COUNT)
                names = (key_bytes(key) for key in keys)
                yield from (key_text(name) for name in names if OWN_KEYS not in name)
                if int(cursor) == 0:
                    break

    def eviction_policy(self) -> str | None:
        """Its ``maxmemory-policy`` (a cluster's first primary's), None where CONFIG
        is forbidden (a managed Redis)."""
        try:
            reply = self._nodes()[0].config_get("maxmemory-policy")
        except ResponseError:
            return None
        policy = reply.get("maxmemory-policy")
        return None if policy is None else text(policy)

    def lfu_ranked(self, limit: int, sample: int = c.COPY_LFU_SAMPLE_KEYS) -> list[str]:
        """The ``limit`` keys with the highest LFU counters (``OBJECT FREQ``, which does
        not count as an access), hottest first, among the first ``sample`` keys SCAN
        names: a page of counters per round trip, ``limit`` keys held."""
        best: list[tuple[int, int, str]] = []  # (counter, -order, key): a min-heap
        order = itertools.count()
        keys = itertools.islice(self.scan(), sample)
        while page := list(itertools.islice(keys, c.COPY_SCAN_COUNT)):
            for key, freq in zip(page, self._counters(page), strict=True):
                if freq is None:
                    continue  # gone since SCAN named it
                entry = (freq, -next(order), key)
                if len(best) < limit:
                    heapq.heappush(best, entry)
                elif entry > best[0]:
                    heapq.heapreplace(best, entry)
        return [key for _, _, key in sorted(best, reverse=True)]

    def _counters(self, keys: Sequence[str]) -> list[int | None]:
        pipe: Any = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.object("freq", key_bytes(key))
        with self._topology_guard():
            replies = pipe.execute(raise_on_error=False)
        return [None if isinstance(r, Exception) or r is None else int(r) for r in replies]

    # -- reading ---------------------------------------------------------------------

    def oversized(self, keys: Sequence[str]) -> list[str | None]:
        """For each key, why it is too large to copy (``DUMP``/``RESTORE`` of it would
        hold a Redis for about a millisecond or more), None where it is not: a string
        over ``COPY_MAX_STRING_BYTES``, an aggregate over ``COPY_MAX_ELEMENTS``. O(1)
        commands only: ``TYPE`` and ``STRLEN`` per key in one round trip, then the
        length command of each hash, list, set, sorted set or stream in another (none
        where the batch holds only strings)."""
        if not keys:
            return []
        names = [key_bytes(key) for key in keys]
        replies = self._send([(cmd, name) for name in names for cmd in ("TYPE", "STRLEN")])
        self._raise_transient(replies)
        found: list[str | None] = [None] * len(keys)
        aggregates: list[tuple[int, str, str]] = []
        for i, (type_reply, strlen) in enumerate(zip(replies[::2], replies[1::2], strict=True)):
            if isinstance(type_reply, Exception):
                continue  # the read says what is wrong with it
            kind = text(type_reply)
            if kind == "string" and isinstance(strlen, int):
                if strlen > c.COPY_MAX_STRING_BYTES:
                    found[i] = f"a string of {strlen:,} bytes (a copy moves at most {_MAX_BYTES})"
            elif kind in _LENGTH:
                aggregates.append((i, kind, _LENGTH[kind]))
        if aggregates:
            lengths = self._send([(cmd, names[i]) for i, _, cmd in aggregates])
            self._raise_transient(lengths)
            for (i, kind, _), length in zip(aggregates, lengths, strict=True):
                if isinstance(length, int) and length > c.COPY_MAX_ELEMENTS:
                    found[i] = (
                        f"a {kind} of {length:,} elements (a copy moves at most "
                        f"{c.COPY_MAX_ELEMENTS:,})"
                    )
        return found

    def read(self, keys: Sequence[str], method: CopyMethod) -> list[Read]:
        """Each key's value and remaining TTL in one round trip: ``DUMP`` (or ``GET``)
        then ``PTTL`` for each key, each a command of its own."""
        if not keys:
            return []
        fetch = "DUMP" if method is CopyMethod.DUMP else "GET"
        names = [key_bytes(key) for key in keys]
        replies = self._send([(cmd, name) for name in names for cmd in (fetch, "PTTL")])
        reads = []
        for value, pttl in zip(replies[::2], replies[1::2], strict=True):
            for reply in (value, pttl):
                if isinstance(reply, TRANSIENT):
                    raise reply  # a node is down: the batch retries
            if isinstance(value, Exception) or isinstance(pttl, Exception):
                error = value if isinstance(value, Exception) else pttl
                reads.append(Read(None, -2, text(str(error))[:200]))
            else:
                reads.append(Read(value, int(pttl)))
        return reads

    def _send(self, commands: Sequence[tuple[str, bytes]]) -> list[Any]:
        """The commands in one round trip (a pipeline on a cluster): each reply, an
        error reply as its exception."""
        if self.cluster:
            pipe: Any = self.client.pipeline()
            for command in commands:
                pipe.execute_command(*command)
            with self._topology_guard():
                return cast(list[Any], pipe.execute(raise_on_error=False))
        packed = [wire.pack(*command) for command in commands]
        with self._topology_guard():
            return wire.send(cast(redis.Redis, self.client), packed)

    @staticmethod
    def _raise_transient(replies: Sequence[Any]) -> None:
        for reply in replies:
            if isinstance(reply, TRANSIENT):
                raise reply  # a node is down: the batch retries

    def _topology_guard(self) -> contextlib.AbstractContextManager[None]:
        return topology_guard(self.client)
