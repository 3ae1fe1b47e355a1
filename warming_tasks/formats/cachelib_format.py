"""``cachelib``: what Flask-Caching's ``RedisCache`` (cachelib's) reads back.

The key is ``WARMING_KEY_PREFIX + key`` (set it to Flask-Caching's
``CACHE_KEY_PREFIX``, ``flask_cache_`` by default); the value goes through
cachelib's own ``RedisCache.serializer`` (ints as digits, the rest ``!`` + pickle).
"""

from __future__ import annotations

from typing import Any

from ..errors import SettingsError
from .raw import RawFormat


class CachelibFormat(RawFormat):
    """cachelib's key prefix (named as ``raw`` names keys) and its serializer."""

    def __init__(self, prefix: str = "") -> None:
        try:
            from cachelib.redis import RedisCache  # noqa: PLC0415 - the application's dependency
        except ImportError:
            raise SettingsError(
                "WARMING_FORMAT=cachelib is invalid: cachelib is not installed "
                "(pip install cachelib, or Flask-Caching)"
            ) from None
        super().__init__(prefix)
        self._dumps = RedisCache.serializer.dumps

    def encode(self, value: Any) -> bytes:
        encoded: bytes = self._dumps(value)
        return encoded
