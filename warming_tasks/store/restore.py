"""The cache's side of a copy: writes that never replace a key the cache holds, in
one round trip a batch; the probe of the other server's dump format; the other
server's URL kept for the run while it runs.

``RESTORE`` without ``REPLACE`` refuses a key that exists (``BUSYKEY``), and ``SET
… NX`` writes nothing over one: the write itself is the guard, so a copy never
looks at the cache first. (A look would cost a round trip, and every absent key it
probed would publish a key-miss notification, which ``listen`` would count as a
read the application missed.)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import redis
from redis.exceptions import ResponseError

from .. import constants as c
from ..retries import TRANSIENT
from . import wire
from .base import StoreBase, text

BUSY = "BUSYKEY"  # RESTORE's answer where the key exists
# RESTORE's answer to a payload of another server's dump format (a newer RDB version).
BAD_PAYLOAD = "payload version or checksum are wrong"

Written = bool | str  # written, left alone (the cache held the key), or Redis' error


class Copied(NamedTuple):
    """One key to write: its Redis key, its TTL left (ms; 0: none), its value (a
    ``DUMP`` payload, or a string's bytes)."""

    key: bytes
    ttl_ms: int
    value: bytes


def _written(reply: Any) -> Written:
    if isinstance(reply, TRANSIENT):
        raise reply  # a node is down: the batch retries
    if isinstance(reply, Exception):
        message = text(str(reply))
        return False if message.startswith(BUSY) else message[:200]
    return reply is not None and reply is not False


class RestoreCommands(StoreBase):
    """Writes of copied keys, only where the cache holds none."""

    def restore_absent(self, keys: Sequence[Copied]) -> list[Written]:
        """``RESTORE key ttl payload`` (no ``REPLACE``) for each key, one round trip."""
        if self.cluster:
            pipe = self.client.pipeline()
            for key in keys:
                pipe.restore(key.key, key.ttl_ms, key.value)
            return self._each(pipe)
        return self._packed([wire.pack("RESTORE", k.key, k.ttl_ms, k.value) for k in keys])

    def set_absent(self, keys: Sequence[Copied]) -> list[Written]:
        """``SET key value PX ttl NX`` (no ``PX`` for a key without TTL), one round trip."""
        if self.cluster:
            pipe = self.client.pipeline()
            for key in keys:
                pipe.set(key.key, key.value, px=key.ttl_ms or None, nx=True)
            return self._each(pipe)
        commands = [
            wire.pack("SET", k.key, k.value, *(("PX", k.ttl_ms) if k.ttl_ms else ()), "NX")
            for k in keys
        ]
        return self._packed(commands)

    def _packed(self, commands: list[bytes]) -> list[Written]:
        if not commands:
            return []
        with self._topology_guard():
            replies = wire.send(cast(redis.Redis, self.client), commands)
        return [_written(reply) for reply in replies]

    def _each(self, pipe: Any) -> list[Written]:
        with self._topology_guard():
            replies = pipe.execute(raise_on_error=False)
        return [_written(reply) for reply in replies]

    def restores(self, run_id: str, payload: bytes) -> bool:
        """Whether the cache takes the other server's ``DUMP`` format: one ``RESTORE``
        of ``payload`` into a key of the suite's own, deleted at once. Another error
        than the format's is raised."""
        probe = self._own(f"{c.COPY_PROBE_KEY_PREFIX}{run_id}")
        try:
            self.client.restore(probe, c.COPY_PROBE_TTL_MS, payload, replace=True)
        except ResponseError as exc:
            if BAD_PAYLOAD in str(exc):
                return False
            raise
        self.client.unlink(probe)
        return True

    # -- the other server's URL, for the run ---------------------------------------

    def keep_copy_from(self, run_id: str, url: str, ttl_s: float) -> None:
        """Keep the other server's URL for the run ``run_id`` (its batches read it) for
        ``ttl_s`` (WARMING_RUN_STALL_S): renewed as the run goes on
        (``renew_copy_from``), deleted when it finishes; a run that stalls or never
        starts leaves it to expire."""
        key = self._own(f"{c.COPY_FROM_KEY_PREFIX}{run_id}")
        self.client.set(key, url, ex=max(1, math.ceil(ttl_s)))

    def renew_copy_from(self, run_id: str, ttl_s: float) -> None:
        """The run goes on: keep its other server's URL ``ttl_s`` longer."""
        self.client.expire(self._own(f"{c.COPY_FROM_KEY_PREFIX}{run_id}"), max(1, math.ceil(ttl_s)))

    def copy_from(self, run_id: str) -> str | None:
        raw = self.client.get(self._own(f"{c.COPY_FROM_KEY_PREFIX}{run_id}"))
        return None if raw is None else text(cast(bytes, raw))

    def forget_copy_from(self, run_id: str) -> None:
        self.client.delete(self._own(f"{c.COPY_FROM_KEY_PREFIX}{run_id}"))
