"""The refresh locks: one per source, a token with an expiry, so two refresh runs
of a source never overlap."""

from __future__ import annotations

from .. import constants as c
from ..settings import DEFAULT_SOURCE
from .base import StoreBase, text


def lock_token(run_id: str, source: str = DEFAULT_SOURCE) -> str:
    """The token with which run ``run_id`` holds the refresh lock of ``source``."""
    return run_id if source == DEFAULT_SOURCE else f"{source}/{run_id}"


def lock_key(token: str) -> str:
    """The lock a token is for: the default source's, or ``:<source>`` after it."""
    source, sep, _ = token.rpartition("/")
    return f"{c.REFRESH_LOCK_KEY}:{source}" if sep else c.REFRESH_LOCK_KEY


class LockCommands(StoreBase):
    """Take, keep and release a source's refresh lock (the token says which)."""

    def acquire_lock(self, token: str, ttl_s: float = c.REFRESH_LOCK_TTL_S) -> str:
        """Take the refresh lock for ``token``; returns the holder's token."""
        key = self._own(lock_key(token))
        return text(self._run("lock_take", [key], [token, int(ttl_s * 1000)]))

    def extend_lock(self, token: str, ttl_s: float = c.REFRESH_LOCK_TTL_S) -> bool:
        """Keep (or take back, if it expired) the lock for ``token``; False if another holds it."""
        return self.acquire_lock(token, ttl_s) == token

    def release_lock(self, token: str) -> bool:
        return bool(self._run("lock_release", [self._own(lock_key(token))], [token]))

    def lock_holder(self, source: str = DEFAULT_SOURCE) -> tuple[str, int] | None:
        """The token holding the refresh lock of ``source`` and its ms left, or None."""
        key = self._own(lock_key(lock_token("", source)))
        pipe = self.client.pipeline()
        pipe.get(key)
        pipe.pttl(key)
        holder, pttl = pipe.execute()
        return None if holder is None else (text(holder), int(pttl))
