"""Stale if error: the values a refresh keeps serving past their expiry while the
source cannot reload them, and the record of when each one's grace began."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import WatchError

from .. import constants as c
from .base import StoreBase
from .cache import bounded_chunks, chunks, small

# What keep_stale.lua answers per key.
NOT_KEPT, KEPT, EXTENDED = 0, 1, 2


class StaleCommands(StoreBase):
    """Keeping due keys whose source failed, within their grace."""

    def keep_stale(
        self, keys: Sequence[str], seen: Sequence[bytes], keep_s: float, grace_s: float
    ) -> dict[str, int]:
        """Extend the expiry of ``keys`` that still hold the bytes ``seen`` (with a
        TTL) to now + ``keep_s``, never beyond ``grace_s`` past the expiry each had
        when first kept: each key's ``NOT_KEPT``, ``KEPT`` or ``EXTENDED``."""
        keep_ms, grace_ms = int(keep_s * 1000), int(grace_s * 1000)
        pairs = list(zip(keys, seen, strict=True))
        scripted = [] if self.cluster else [pair for pair in pairs if small(pair[1])]
        by_key: dict[str, int] = {}
        stale = self._own(c.STALE_KEY)
        for call in bounded_chunks(scripted, lambda pair: len(pair[1])):
            names = [self.key(key) for key, _ in call]
            args: list[Any] = [keep_ms, grace_ms, *(k for k, _ in call), *(v for _, v in call)]
            flags = self._run("keep_stale", [stale, *names], args)
            by_key.update((key, int(flag)) for (key, _), flag in zip(call, flags, strict=True))
        for key, held in pairs:
            if key not in by_key:
                by_key[key] = self._keep_watched(key, held, keep_ms, grace_ms)
        return by_key

    def _keep_watched(self, key: str, held: bytes, keep_ms: int, grace_ms: int) -> int:
        """``keep_stale`` for one key with WATCH/MULTI: a large value, or a key on a
        cluster. Timed by Redis' clock (the key's expiry less its PTTL); on a single
        node the record is written in the same transaction, on a cluster (another
        slot) just before it."""
        name, stale = self.key(key), self._own(c.STALE_KEY)
        with self._topology_guard(), self.client.pipeline(transaction=True) as pipe:
            try:
                pipe.watch(name)
                if pipe.object("encoding", name) is None:
                    return NOT_KEPT  # gone (a GET would publish a key miss)
                if pipe.get(name) != held:
                    return NOT_KEPT
                pttl = int(pipe.pttl(name))
                if pttl <= 0:
                    return NOT_KEPT
                now_ms = int(pipe.execute_command("PEXPIRETIME", name)) - pttl
                self._forget_ended(now_ms - grace_ms)
                recorded = self.client.zscore(stale, key)
                first = now_ms + pttl
                if recorded is not None and recorded + grace_ms > now_ms:
                    first = int(recorded)
                until_ms = min(now_ms + keep_ms, first + grace_ms)
                if until_ms <= now_ms + pttl:
                    return KEPT if first + grace_ms > now_ms else NOT_KEPT
                if self.cluster:
                    self.client.zadd(stale, {key: first})
                pipe.multi()
                pipe.pexpireat(name, until_ms)
                if not self.cluster:
                    pipe.zadd(stale, {key: first})
                pipe.execute()
            except WatchError:
                return NOT_KEPT  # the application wrote it meanwhile
        return EXTENDED

    def _forget_ended(self, before_ms: int) -> None:
        """Forget a few records whose grace ended before ``before_ms`` (keep_stale.lua
        does the same on the scripted path)."""
        stale = self._own(c.STALE_KEY)
        over = self.client.zrangebyscore(stale, "-inf", f"({before_ms}", 0, 32)
        if over:
            self.client.zrem(stale, *over)

    def end_stale(self, keys: Sequence[str]) -> None:
        """These keys' grace is over (reloaded, changed, or gone): a later outage
        starts a new one. One round trip."""
        if not keys:
            return
        pipe = self.client.pipeline(transaction=False)
        for chunk in chunks(keys, c.LOOK_CHUNK_KEYS):
            pipe.zrem(self._own(c.STALE_KEY), *chunk)
        pipe.execute()
