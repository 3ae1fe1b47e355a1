"""The cache itself: what a batch sees of its keys before loading them, guarded
writes in one round trip, TTL probes, server config.

A batch writes a key only where the cache still holds what the batch saw before
it loaded the key: ``SET … NX`` where it saw nothing, a compare-and-set of the
same bytes (``cas.lua``, a few dozen keys a call) where it saw a value. So a value
the application wrote meanwhile, with a longer TTL or a shorter one, is never
replaced by the source's older one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, cast

import redis
from redis.exceptions import ResponseError

from .. import constants as c
from ..retries import TRANSIENT
from . import wire
from .base import StoreBase, script_text, text

Value = str | bytes | int  # as the format encoded it (an int is stored as digits)
Entry = tuple[str, Value, int]  # the application's key, value, ttl in seconds
Seen = bytes | None  # a key's bytes before the batch loaded it; None: absent
Reply = bool | str  # written, left alone, or the error Redis gave for that key


def _chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


Guarded = tuple[int, Entry, bytes]  # an entry's place in the batch, it, the bytes seen


def _guarded_chunks(items: Sequence[Guarded]) -> list[list[Guarded]]:
    """Compare-and-set calls of at most ``CAS_CHUNK_KEYS`` keys and about
    ``CAS_CHUNK_BYTES`` of values each: a call is a pause for every client."""
    chunks: list[list[Guarded]] = [[]]
    size = 0
    for item in items:
        value = item[1][1]
        weight = len(item[2]) + (len(value) if isinstance(value, bytes | str) else 20)
        full = len(chunks[-1]) >= c.CAS_CHUNK_KEYS or size + weight > c.CAS_CHUNK_BYTES
        if chunks[-1] and full:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += weight
    return [chunk for chunk in chunks if chunk]


def _reply(reply: Any) -> Reply:
    if isinstance(reply, Exception):
        return text(str(reply))[:200]
    if isinstance(reply, bytes | str):
        return text(reply) if text(reply) != "OK" else True
    return reply is True or reply == 1


class CacheCommands(StoreBase):
    """Writes and probes of cache entries."""

    def pttls(self, keys: Sequence[str]) -> list[int]:
        """Milliseconds left for each key (-2 missing, -1 no expiry), one round trip."""
        if not keys:
            return []
        if self.cluster:
            pipe = self.client.pipeline()
            for key in keys:
                pipe.pttl(self.key(key))
            with self._topology_guard():
                return [int(t) for t in pipe.execute()]
        script = script_text("pttl")
        names = [self.key(k) for k in keys]
        commands = [
            wire.pack("EVAL", script, len(chunk), *chunk)
            for chunk in _chunks(names, c.PTTL_CHUNK_KEYS)
        ]
        with self._topology_guard():
            replies = self._checked(wire.send(self._node, commands))
        return [int(t) for chunk in replies for t in chunk]

    def look(self, keys: Sequence[str], with_ttl: bool = False) -> tuple[list[Seen], list[int]]:
        """What the cache holds for ``keys`` now, before a batch loads them: each
        key's bytes (None: absent or not a string) and, ``with_ttl``, its PTTL."""
        if not keys:
            return [], []
        names = [self.key(k) for k in keys]
        if self.cluster:
            pipe = self.client.pipeline()
            for name in names:
                pipe.get(name)
                if with_ttl:
                    pipe.pttl(name)
            with self._topology_guard():
                replies = pipe.execute()
            step = 2 if with_ttl else 1
            seen = cast(list[Seen], replies[::step])
            return seen, [int(t) for t in replies[1::2]] if with_ttl else []
        commands = [wire.pack("MGET", *chunk) for chunk in _chunks(names, c.LOOK_CHUNK_KEYS)]
        if with_ttl:
            commands += [wire.pack("PTTL", name) for name in names]
        with self._topology_guard():
            replies = self._checked(wire.send(self._node, commands))
        values = len(commands) - (len(names) if with_ttl else 0)
        seen = [value for chunk in replies[:values] for value in chunk]
        return seen, [int(t) for t in replies[values:]]

    def write(
        self, entries: Sequence[Entry], seen: Sequence[Seen], need_ttl: bool = False
    ) -> list[Reply]:
        """Write a batch in one round trip, each key only where the cache still holds
        what the batch saw (``seen``; None: absent) and, ``need_ttl``, still with a
        TTL: per entry True (written), False (left alone: superseded) or the error
        Redis gave for that key alone."""
        if not entries:
            return []
        if self.cluster:
            return self._write_each(entries, seen, need_ttl)
        absent: list[int] = []
        guarded: list[Guarded] = []
        for i, (entry, held) in enumerate(zip(entries, seen, strict=True)):
            if held is not None:
                guarded.append((i, entry, held))
            elif not need_ttl:  # a refresh never writes a key that was not there
                absent.append(i)
        calls = _guarded_chunks(guarded)
        key = self.key
        commands = [wire.pack_set(key(entries[i][0]), *entries[i][1:], nx=True) for i in absent]
        commands += [self._cas_command(call, need_ttl) for call in calls]
        with self._topology_guard():
            raw = wire.send(self._node, commands)
        replies: list[Reply] = [False] * len(entries)
        for i, reply in zip(absent, raw, strict=False):
            replies[i] = _reply(reply)
        for call, reply in zip(calls, raw[len(absent) :], strict=True):
            for i, _, _ in call:
                # An error for the whole call (a script Redis refused) is each key's.
                replies[i] = _reply(reply)
            if isinstance(reply, list):
                for (i, _, _), one in zip(call, reply, strict=True):
                    replies[i] = _reply(one)
        return replies

    def _cas_command(self, call: Sequence[Guarded], need_ttl: bool) -> bytes:
        args: list[wire.Arg] = ["EVAL", script_text("cas"), len(call)]
        args += [self.key(entry[0]) for _, entry, _ in call]
        args.append("1" if need_ttl else "0")
        for _, (_, value, ttl_s), held in call:
            args += [held, value, ttl_s]
        return wire.pack(*args)

    def _write_each(
        self, entries: Sequence[Entry], seen: Sequence[Seen], need_ttl: bool
    ) -> list[Reply]:
        """On a cluster a batch's keys live on many slots: one command per key in a
        pipeline per node (a one-key compare-and-set where a value was seen)."""
        pipe = self.client.pipeline()
        cas = script_text("cas")
        written = []
        for (key, value, ttl_s), held in zip(entries, seen, strict=True):
            if held is None:
                if need_ttl:
                    written.append(False)
                    continue
                pipe.set(self.key(key), value, ex=ttl_s, nx=True)
            else:
                flag = "1" if need_ttl else "0"
                pipe.execute_command("EVAL", cas, 1, self.key(key), flag, held, value, ttl_s)
            written.append(True)
        with self._topology_guard():
            replies = iter(pipe.execute(raise_on_error=False))
        out: list[Reply] = []
        for sent in written:
            if not sent:
                out.append(False)
                continue
            reply = next(replies)
            if isinstance(reply, TRANSIENT):
                raise reply  # the node is down: let the batch retry
            out.append(_reply(reply[0] if isinstance(reply, list) else reply))
        return out

    def keep_stale(
        self, keys: Sequence[str], seen: Sequence[bytes], keep_s: float, grace_s: float
    ) -> int:
        """Extend the expiry of ``keys`` that still hold the bytes ``seen`` (with a
        TTL) to now + ``keep_s``, never beyond ``grace_s`` past the expiry each had
        when first kept: the number of keys whose grace is still open."""
        stale = self._own(c.STALE_KEY)
        now_ms = int(time.time() * 1000)
        grace_ms = int(grace_s * 1000)
        kept = 0
        pairs = list(zip(keys, seen, strict=True))
        for chunk in _chunks(pairs, 1 if self.cluster else c.CAS_CHUNK_KEYS):
            members = [key for key, _ in chunk]
            firsts = [0 if f is None else int(f) for f in self.client.zmscore(stale, members)]
            with self._topology_guard():
                used = self._run(
                    "keep_stale",
                    [self.key(key) for key in members],
                    [now_ms, int(keep_s * 1000), grace_ms, *(v for _, v in chunk), *firsts],
                )
            new = {m: int(u) for m, u, f in zip(members, used, firsts, strict=True) if u and not f}
            if new:
                self.client.zadd(stale, new, nx=True)
            kept += sum(1 for u in used if int(u))
        # Graces that ended long ago: their keys have expired; forget a few each time.
        over = self.client.zrangebyscore(stale, "-inf", f"({now_ms - grace_ms}", 0, 64)
        if over:
            self.client.zrem(stale, *cast(list[bytes], over))
        return kept

    def end_stale(self, keys: Sequence[str]) -> None:
        """A successful reload ends these keys' grace (where they had one)."""
        for chunk in _chunks(keys, c.LOOK_CHUNK_KEYS):
            self.client.zrem(self._own(c.STALE_KEY), *chunk)

    @property
    def _node(self) -> redis.Redis:
        return cast(redis.Redis, self.client)

    @staticmethod
    def _checked(replies: list[Any], allow_errors: bool = False) -> list[Any]:
        """Replies of a packed send; an error reply where none is expected is raised."""
        if not allow_errors:
            for reply in replies:
                if isinstance(reply, ResponseError):
                    raise reply
        return replies

    def get(self, key: str) -> bytes | None:
        return cast(bytes | None, self.client.get(self.key(key)))

    def ttl_s(self, key: str) -> int:
        return int(self.client.ttl(self.key(key)))

    def expire(self, key: str, ttl_s: int) -> None:
        self.client.expire(self.key(key), ttl_s)

    def config_value(self, name: str) -> str | None:
        """A server config value, or None when the server forbids CONFIG (managed Redis)."""
        try:
            reply = cast(dict[str, str], self.client.config_get(name))
        except redis.ResponseError:
            return None
        return text(reply[name]) if name in reply else None
