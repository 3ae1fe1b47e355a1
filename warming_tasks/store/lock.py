"""The refresh lock: a token with an expiry, so two refresh runs never overlap."""

from __future__ import annotations

from .. import constants as c
from .base import StoreBase, text


class LockCommands(StoreBase):
    """Take, keep and release the refresh lock."""

    def acquire_lock(self, token: str, ttl_s: float = c.REFRESH_LOCK_TTL_S) -> str:
        """Take the refresh lock for ``token``; returns the holder's token."""
        return text(
            self._run("lock_take", [self._own(c.REFRESH_LOCK_KEY)], [token, int(ttl_s * 1000)])
        )

    def extend_lock(self, token: str, ttl_s: float = c.REFRESH_LOCK_TTL_S) -> bool:
        """Keep (or take back, if it expired) the lock for ``token``; False if another holds it."""
        return self.acquire_lock(token, ttl_s) == token

    def release_lock(self, token: str) -> bool:
        return bool(self._run("lock_release", [self._own(c.REFRESH_LOCK_KEY)], [token]))

    def lock_holder(self) -> tuple[str, int] | None:
        """The token holding the refresh lock and its ms left, or None."""
        pipe = self.client.pipeline()
        pipe.get(self._own(c.REFRESH_LOCK_KEY))
        pipe.pttl(self._own(c.REFRESH_LOCK_KEY))
        holder, pttl = pipe.execute()
        return None if holder is None else (text(holder), int(pttl))
