"""Warm requests waiting in the queue: which request asked last for each key, so a
burst of requests for one key costs one load (``warming_tasks.warm``)."""

from __future__ import annotations

from collections.abc import Sequence

from .. import constants as c
from .base import StoreBase


class PendingCommands(StoreBase):
    """Mark keys as asked for by a request; claim them when the request runs."""

    def _marker(self, key: str) -> str:
        return self._own(f"{c.PENDING_KEY_PREFIX}{key}")

    def note_pending(self, keys: Sequence[str], request: str) -> None:
        """``request`` is the latest to ask for ``keys`` (for ``WARM_PENDING_TTL_S``:
        a request older than that is loaded, never coalesced away)."""
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.set(self._marker(key), request, px=int(c.WARM_PENDING_TTL_S * 1000))
        pipe.execute()

    def claim_pending(self, keys: Sequence[str], request: str) -> list[bool]:
        """For each key, whether ``request`` loads it (False: a later request will)."""
        claimed: list[bool] = []
        for start in range(0, len(keys), c.PENDING_CLAIM_CHUNK):
            chunk = keys[start : start + c.PENDING_CLAIM_CHUNK]
            found = self._run("claim_pending", [self._marker(k) for k in chunk], [request])
            claimed += [bool(flag) for flag in found]
        return claimed

    def drop_pending(self, keys: Sequence[str], request: str) -> None:
        """Unmark ``keys`` where ``request`` is still the latest to ask for them (a
        request that could not be sent): claiming them removes exactly those marks."""
        self.claim_pending(keys, request)
