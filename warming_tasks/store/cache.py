"""The cache itself: batched writes in one round trip, TTL probes, server config."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any, cast

import redis

from ..retries import TRANSIENT
from .base import StoreBase, script_text, text

Value = str | bytes | int  # as the format encoded it (an int is stored as digits)
Entry = tuple[str, Value, int]  # the application's key, value, ttl in seconds


class WriteMode(StrEnum):
    """How a batch write treats keys already in the cache."""

    SET = "set"  # preload: always write
    NX = "nx"  # predictive: only where absent
    LIVE = "live"  # refresh: only where present with a TTL


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
        return [int(t) for t in self._run("pttl", [self.key(k) for k in keys], [])]

    def write(self, entries: Sequence[Entry], mode: WriteMode) -> list[bool | str]:
        """Write a batch in one round trip: per entry True (written), False (left
        alone by ``mode``) or the error Redis gave for that key alone."""
        if not entries:
            return []
        if self.cluster:
            return self._write_each(entries, mode)
        args: list[Any] = [mode.value]
        for _, value, ttl_s in entries:
            args += [value, ttl_s]
        replies = self._run("write", [self.key(k) for k, _, _ in entries], args)
        return [r == 1 if isinstance(r, int) else text(r) for r in replies]

    def _write_each(self, entries: Sequence[Entry], mode: WriteMode) -> list[bool | str]:
        pipe = self.client.pipeline()
        live = script_text("write_live_one") if mode is WriteMode.LIVE else ""
        for key, value, ttl_s in entries:
            if mode is WriteMode.LIVE:
                pipe.execute_command("EVAL", live, 1, self.key(key), value, ttl_s)
            else:
                pipe.set(self.key(key), value, ex=ttl_s, nx=mode is WriteMode.NX)
        with self._topology_guard():
            replies = pipe.execute(raise_on_error=False)
            for reply in replies:
                if isinstance(reply, TRANSIENT):
                    raise reply  # the node is down: let the batch retry
        return [text(str(r)) if isinstance(r, Exception) else r is True or r == 1 for r in replies]

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
