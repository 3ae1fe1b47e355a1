"""The cache itself: what a batch sees of its keys before loading them, guarded
writes in one round trip, TTL probes, server config.

A batch writes a key only where the cache still holds what the batch saw before
it loaded the key: ``SET … NX`` where it saw nothing, a compare-and-set of the
same bytes where it saw a value (``cas.lua`` over a few dozen small values a call;
``WATCH``/``MULTI`` for a large one, so no single command copies much). So a value
the application wrote meanwhile, with a longer TTL or a shorter one, is never
replaced by the source's older one.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import redis
from redis.exceptions import ResponseError, WatchError

from .. import constants as c
from ..retries import TRANSIENT
from . import wire
from .base import StoreBase, script_text, text

Value = str | bytes | int  # as the format encoded it (an int is stored as digits)
Entry = tuple[str, Value, int]  # the application's key, value, ttl in seconds
Seen = bytes | None  # a key's bytes before the batch loaded it; None: absent
Reply = bool | str  # written, left alone, or the error Redis gave for that key
Guarded = tuple[int, Entry, bytes]  # an entry's place in the batch, it, the bytes seen
_LIVES_A_WHILE_MS = 1000  # a key with this long left is still there a round trip later


def chunks(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def size_of(value: Value) -> int:
    return len(value) if isinstance(value, bytes | str) else 20


def small(*values: Value) -> bool:
    """Whether a script may carry these values: larger ones go a command at a time."""
    return all(size_of(v) <= c.LARGE_VALUE_BYTES for v in values)


def bounded_chunks(items: Sequence[Any], weight: Any) -> list[list[Any]]:
    """Script calls of at most ``SCRIPT_CHUNK_KEYS`` keys and ``SCRIPT_CHUNK_BYTES``
    of values each (``weight(item)`` says an item's bytes): a call is a pause for
    every client."""
    calls: list[list[Any]] = [[]]
    size = 0
    for item in items:
        bytes_ = weight(item)
        full = len(calls[-1]) >= c.SCRIPT_CHUNK_KEYS or size + bytes_ > c.SCRIPT_CHUNK_BYTES
        if calls[-1] and full:
            calls.append([])
            size = 0
        calls[-1].append(item)
        size += bytes_
    return [call for call in calls if call]


@dataclass
class _Plan:
    """A batch write sorted by how each key is guarded, and the replies so far."""

    entries: Sequence[Entry]
    need_ttl: bool
    replies: list[Reply]
    absent: list[int] = field(default_factory=list)  # SET … NX
    guarded: list[Guarded] = field(default_factory=list)  # cas.lua
    large: list[Guarded] = field(default_factory=list)  # WATCH/MULTI


def _held(reply: Any) -> Any:
    """A look's reply: a key of another type (WRONGTYPE) is not a value a batch may
    replace, so it reads as absent (``SET … NX`` then leaves it alone); a node that
    is down is raised for the batch to retry."""
    if isinstance(reply, TRANSIENT):
        raise reply
    return None if isinstance(reply, ResponseError) else reply


def _reply(reply: Any) -> Reply:
    if isinstance(reply, Exception):
        return text(str(reply))[:200]
    if isinstance(reply, bytes | str):
        return text(reply) if text(reply) != "OK" else True
    return reply is True or reply == 1


class CacheCommands(StoreBase):
    """Writes and probes of cache entries."""

    # Whether a listener ran when last asked, and until when (monotonic s) that holds.
    _listened: tuple[bool, float] = (False, -1.0)

    def listening(self) -> bool:
        """Whether ``warming-tasks listen`` runs on this cache (its heartbeat), asked
        at most once every ``LISTEN_CHECK_S``: only then must a probe of an absent key
        publish no key miss, which costs the probes an ``OBJECT ENCODING`` a key. (A
        listener that takes the heartbeat waits ``LISTEN_SETTLE_S`` before it listens,
        so what was probed before this process knew is not counted.)"""
        if self.cluster:
            return False  # ``listen`` refuses a cluster
        held, until = self._listened
        now = time.monotonic()
        if now >= until:
            held = bool(self.client.exists(self._own(c.LISTEN_ALIVE_KEY)))
            self._listened = (held, now + c.LISTEN_CHECK_S)
        return held

    def pttls(self, keys: Sequence[str]) -> list[int]:
        """Milliseconds left for each key (-2 missing, -1 no expiry), one round trip;
        while a listener runs, an absent key publishes no key-miss notification
        (``pttl.lua``). On a cluster, a ``PTTL`` a key."""
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
        quiet = int(self.listening())
        commands = [
            wire.pack("EVAL", script, len(chunk), *chunk, quiet)
            for chunk in chunks(names, c.PTTL_CHUNK_KEYS)
        ]
        replies = self._send(commands)
        return [int(t) for chunk in replies for t in chunk]

    def look(self, keys: Sequence[str], with_ttl: bool = False) -> tuple[list[Seen], list[int]]:
        """What the cache holds for ``keys`` now, before a batch loads them: each
        key's bytes (None: absent or not a string) and, ``with_ttl``, its PTTL.

        Plain commands in one round trip: a ``GET`` (and ``PTTL``) a key, so a large
        value never makes a long command; without ``with_ttl`` (a preload, often of
        a cold cache) an ``EXISTS`` per ``EXISTS_CHUNK_KEYS`` first, and a ``GET``
        only where it counted some. While a listener runs, a ``GET``, ``PTTL`` or
        ``EXISTS`` of an absent key would publish a key-miss notification, counted
        by ``warming-tasks listen`` as if the application had missed it (a refresh
        looks at keys about to expire, some gone by the time its batch runs): then
        ``look.lua`` looks each key up with ``OBJECT ENCODING`` first and reads only
        those there, a few dozen keys a call, at most ``SCRIPT_CHUNK_BYTES`` of
        values a call (what does not fit takes one more round trip)."""
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
                replies = [_held(r) for r in pipe.execute(raise_on_error=False)]
            if with_ttl:
                return replies[::2], [int(t or 0) for t in replies[1::2]]
            return replies, []
        if self.listening():
            seen, ttls = self._look_packed(names)
            return seen, ttls if with_ttl else []
        if with_ttl:
            commands = [wire.pack(cmd, n) for n in names for cmd in ("GET", "PTTL")]
            replies = [_held(r) for r in self._send(commands, allow_errors=True)]
            return replies[::2], [int(t or 0) for t in replies[1::2]]
        groups = chunks(names, c.EXISTS_CHUNK_KEYS)
        counts = self._send([wire.pack("EXISTS", *group) for group in groups])
        held = [name for group, n in zip(groups, counts, strict=True) if n for name in group]
        gets = self._send([wire.pack("GET", n) for n in held], allow_errors=True)
        values = dict(zip(held, map(_held, gets), strict=True))
        return [values.get(name) for name in names], []

    def _look_packed(self, names: Sequence[str | bytes]) -> tuple[list[Seen], list[int]]:
        """``look.lua`` over a few dozen keys a call, reading at most
        ``SCRIPT_CHUNK_BYTES`` of values a call; the values that did not fit are
        read in one more round trip: a call each, or, for a large value that lives
        a while yet, a plain ``GET`` (it copies nothing into a script)."""
        script = script_text("look")
        commands = [
            wire.pack("EVAL", script, len(chunk), *chunk, c.SCRIPT_CHUNK_BYTES)
            for chunk in chunks(names, c.SCRIPT_CHUNK_KEYS)
        ]
        flat = [item for chunk in self._send(commands) for item in chunk]
        values: list[Any] = flat[::2]
        ttls = [int(t) for t in flat[1::2]]
        later = [i for i, value in enumerate(values) if isinstance(value, int)]
        if later:
            again = [self._read_alone(script, names[i], values[i], ttls[i]) for i in later]
            for i, reply in zip(later, self._send(again, allow_errors=True), strict=True):
                values[i] = _held(reply[0] if isinstance(reply, list) else reply)
        return [v if isinstance(v, bytes) else None for v in values], ttls

    @staticmethod
    def _read_alone(script: str, name: str | bytes, size: int, pttl: int) -> bytes:
        """A value ``look.lua`` left for a call of its own: in the script (a key about
        to expire is not read if gone: no key miss), unless large and with a second
        or more to live, when a plain ``GET`` spares the script the copy."""
        if size > c.LARGE_VALUE_BYTES and (pttl == -1 or pttl >= _LIVES_A_WHILE_MS):
            return wire.pack("GET", name)
        return wire.pack("EVAL", script, 1, name, -1)

    def write(
        self, entries: Sequence[Entry], seen: Sequence[Seen], need_ttl: bool = False
    ) -> list[Reply]:
        """Write a batch in one round trip, each key only where the cache still holds
        what the batch saw (``seen``; None: absent) and, ``need_ttl``, still with a
        TTL: per entry True (written), False (left alone: superseded) or the error
        Redis gave for that key alone. Large values take a round trip each."""
        if not entries:
            return []
        plan = _Plan(entries, need_ttl, [False] * len(entries))
        for i, (entry, held) in enumerate(zip(entries, seen, strict=True)):
            if held is None:
                if not need_ttl:  # a refresh never writes a key that was not there
                    plan.absent.append(i)
            elif small(held, entry[1]):
                plan.guarded.append((i, entry, held))
            else:
                plan.large.append((i, entry, held))
        (self._write_each if self.cluster else self._write_packed)(plan)
        for i, (key, value, ttl_s), held in plan.large:
            plan.replies[i] = self._compare_and_set(self.key(key), held, value, ttl_s, need_ttl)
        return plan.replies

    def _write_packed(self, plan: _Plan) -> None:
        """``SET … NX`` where the batch saw nothing, ``cas.lua`` over a few dozen
        small values a call where it saw them: all in one round trip."""
        entries, absent, replies = plan.entries, plan.absent, plan.replies
        calls = bounded_chunks(plan.guarded, lambda item: size_of(item[1][1]) + len(item[2]))
        key = self.key
        commands = [wire.pack_set(key(entries[i][0]), *entries[i][1:], nx=True) for i in absent]
        commands += [self._cas_command(call, plan.need_ttl) for call in calls]
        raw = self._send(commands, allow_errors=True)
        for i, reply in zip(absent, raw, strict=False):
            replies[i] = _reply(reply)
        for call, reply in zip(calls, raw[len(absent) :], strict=True):
            for i, _, _ in call:
                # An error for the whole call (a script Redis refused) is each key's.
                replies[i] = _reply(reply)
            if isinstance(reply, list):
                for (i, _, _), one in zip(call, reply, strict=True):
                    replies[i] = _reply(one)

    def _cas_command(self, call: Sequence[Guarded], need_ttl: bool) -> bytes:
        args: list[wire.Arg] = ["EVAL", script_text("cas"), len(call)]
        args += [self.key(entry[0]) for _, entry, _ in call]
        args.append("1" if need_ttl else "0")
        for _, (_, value, ttl_s), held in call:
            args += [held, value, ttl_s]
        return wire.pack(*args)

    def _write_each(self, plan: _Plan) -> None:
        """On a cluster a batch's keys live on many slots: a command a key (a one-key
        ``cas.lua`` where a value was seen) in one pipeline per node."""
        if not plan.absent and not plan.guarded:
            return
        pipe = self.client.pipeline()
        for i in plan.absent:
            key, value, ttl_s = plan.entries[i]
            pipe.set(self.key(key), value, ex=ttl_s, nx=True)
        cas, flag = script_text("cas"), "1" if plan.need_ttl else "0"
        for _, (key, value, ttl_s), held in plan.guarded:
            pipe.execute_command("EVAL", cas, 1, self.key(key), flag, held, value, ttl_s)
        with self._topology_guard():
            raw = pipe.execute(raise_on_error=False)
        order = [*plan.absent, *(i for i, _, _ in plan.guarded)]
        for i, reply in zip(order, raw, strict=True):
            if isinstance(reply, TRANSIENT):
                raise reply  # the node is down: let the batch retry
            plan.replies[i] = _reply(reply[0] if isinstance(reply, list) else reply)

    def _compare_and_set(
        self, name: str | bytes, held: bytes, value: Value, ttl_s: int, need_ttl: bool
    ) -> Reply:
        """Write ``name`` only while it still holds ``held`` (and, ``need_ttl``, a
        TTL), with ``WATCH``/``MULTI``: each step a plain command, however large the
        value (a key on its own slot, on a cluster)."""
        with self._topology_guard(), self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(name)
                if pipe.object("encoding", name) is None:
                    return False  # gone (a GET would publish a key miss: see look)
                if pipe.get(name) != held or (need_ttl and int(pipe.pttl(name)) <= 0):
                    return False
                pipe.multi()
                pipe.set(name, value, ex=ttl_s)
                pipe.execute()
            except WatchError:
                return False  # written meanwhile
            except ResponseError as exc:
                return text(str(exc))[:200]
        return True

    def _send(self, commands: Sequence[bytes], allow_errors: bool = False) -> list[Any]:
        """Packed commands in one round trip to the single node; an error reply where
        none is expected is raised."""
        with self._topology_guard():
            replies = wire.send(cast(redis.Redis, self.client), commands)
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
