"""A Flask-Caching cache type that counts the application's reads where it reads.

    # configured like Flask-Caching's RedisCache:
    app.config["CACHE_TYPE"] = "warming_tasks.flask.TrackingRedisCache"

``get``, ``get_many`` and ``get_dict`` count each key read, with whether it hit
(cachelib cannot tell a stored ``None`` from a miss: ``None`` counts as a miss),
through the same buffered, never-raising tracker as ``track_access``.
"""

from __future__ import annotations

from typing import Any

from flask_caching.backends.rediscache import RedisCache

from .tracker import track_access


class TrackingRedisCache(RedisCache):
    """Flask-Caching's ``RedisCache``, counting the reads for predictive loads."""

    def get(self, key: str) -> Any:
        value = super().get(key)
        track_access(key, hit=value is not None)
        return value

    def get_many(self, *keys: str) -> list[Any]:
        values: list[Any] = super().get_many(*keys)
        for key, value in zip(keys, values, strict=True):
            track_access(key, hit=value is not None)
        return values

    def get_dict(self, *keys: str) -> dict[str, Any]:
        # cachelib's get_dict reads through get_many: counted there, once.
        found: dict[str, Any] = super().get_dict(*keys)
        return found
