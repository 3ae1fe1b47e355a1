"""The refresh locks: one per source, a token with an expiry, so two refresh runs
of a source never overlap."""

from __future__ import annotations

from .. import constants as c
from ..settings import DEFAULT_SOURCE
from .base import StoreBase, text


def lock_key(source: str = DEFAULT_SOURCE) -> str:
    """The refresh lock of ``source`` (the one source of ``WARMING_SOURCE`` keeps the
    key it always had)."""
    return c.REFRESH_LOCK_KEY if source == DEFAULT_SOURCE else f"{c.REFRESH_LOCK_KEY}:{source}"


class LockCommands(StoreBase):
    """Take, keep and release a source's refresh lock with a run's token."""

    def acquire_lock(
        self, token: str, source: str = DEFAULT_SOURCE, ttl_s: float = c.REFRESH_LOCK_TTL_S
    ) -> str:
        """Take the refresh lock of ``source`` for ``token``; returns the holder's token."""
        key = self._own(lock_key(source))
        return text(self._run("lock_take", [key], [token, int(ttl_s * 1000)]))

    def extend_lock(
        self, token: str, source: str = DEFAULT_SOURCE, ttl_s: float = c.REFRESH_LOCK_TTL_S
    ) -> bool:
        """Keep (or take back, if it expired) the lock for ``token``; False if another holds it."""
        return self.acquire_lock(token, source, ttl_s) == token

    def release_lock(self, token: str, source: str = DEFAULT_SOURCE) -> bool:
        return bool(self._run("lock_release", [self._own(lock_key(source))], [token]))

    def lock_holder(self, source: str = DEFAULT_SOURCE) -> tuple[str, int] | None:
        """The token holding the refresh lock of ``source`` and its ms left, or None."""
        key = self._own(lock_key(source))
        pipe = self.client.pipeline()
        pipe.get(key)
        pipe.pttl(key)
        holder, pttl = pipe.execute()
        return None if holder is None else (text(holder), int(pttl))
