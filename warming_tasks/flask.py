"""A Flask-Caching cache type that counts the application's reads where it reads.

    # configured like Flask-Caching's RedisCache:
    app.config["CACHE_TYPE"] = "warming_tasks.flask.TrackingRedisCache"

``get``, ``get_many`` and ``get_dict`` count each key read, with whether it hit
(cachelib cannot tell a stored ``None`` from a miss: ``None`` counts as a miss),
through the same buffered, never-raising tracker as ``track_access``, into this
cache's own Redis unless ``WARMING_REDIS_URL`` is set.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from flask_caching.backends.rediscache import RedisCache

from .ops.agreement import PROBE_KEY
from .settings import redact_url
from .tracker import counter_for


class TrackingReads:
    """Mixin over a Flask-Caching Redis backend: count each key read, hit or miss,
    into the Redis of this cache (``CACHE_REDIS_URL``, or host, port and db) unless
    ``WARMING_REDIS_URL`` says where every process counts."""

    _write_client: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        location = _location(self._write_client)
        prefix: str = self._get_prefix()  # type: ignore[attr-defined]  # cachelib: a string, or a callable of none
        named = {"probe": f"{prefix}{PROBE_KEY}", "framework": "flask", "at": time.time()}
        backend = f"Flask-Caching {type(self).__name__} at {redact_url(location or '?')}"
        # Its counts go where workers with WARMING_KEY_PREFIX=CACHE_KEY_PREFIX read them.
        self._count = counter_for(location, (backend, json.dumps(named)), prefix)

    def get(self, key: str) -> Any:
        value = super().get(key)  # type: ignore[misc]
        self._count(key, value is not None)
        return value

    def get_many(self, *keys: str) -> list[Any]:
        values: list[Any] = super().get_many(*keys)  # type: ignore[misc]
        # What the client returned is returned as it is, even when it cannot be paired
        # key for key (a client that answers with more or fewer values): what pairs is
        # counted, and counting never raises into the application.
        for key, value in zip(keys, values, strict=False):
            self._count(key, value is not None)
        return values

    def get_dict(self, *keys: str) -> dict[str, Any]:
        # cachelib's get_dict reads through get_many: counted there, once.
        found: dict[str, Any] = super().get_dict(*keys)  # type: ignore[misc]
        return found


class TrackingRedisCache(TrackingReads, RedisCache):
    """Flask-Caching's ``RedisCache``, counting the reads for predictive loads."""


def _location(client: Any) -> str | None:
    """The URL of the Redis ``client`` talks to (its password kept: the tracker
    connects with it; it is never printed)."""
    try:
        found = client.connection_pool.connection_kwargs
    except AttributeError:
        return None
    if not (found.get("host") or found.get("path")):
        return None  # a Sentinel pool finds its master when it connects: no URL to name
    user = quote(found.get("username") or "", safe="")
    password = quote(found.get("password") or "", safe="")
    auth = f"{user}:{password}@" if password else ""
    if found.get("path"):
        return f"unix://{auth}{found['path']}?db={found.get('db', 0)}"
    scheme = "rediss" if "ssl" in str(client.connection_pool.connection_class).lower() else "redis"
    host, port = found["host"], found.get("port", 6379)
    return f"{scheme}://{auth}{host}:{port}/{found.get('db', 0)}"
