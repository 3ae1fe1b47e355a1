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
from typing import Any
from urllib.parse import quote

from flask_caching.backends.rediscache import RedisCache

from .ops.agreement import PROBE_KEY
from .settings import redact_url
from .tracker import counter_for


class TrackingRedisCache(RedisCache):
    """Flask-Caching's ``RedisCache``, counting the reads for predictive loads into
    its own Redis (``CACHE_REDIS_URL``, or host, port and db) unless
    ``WARMING_REDIS_URL`` says where every process counts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        location = _location(self._write_client)
        named = {"probe": f"{self.key_prefix}{PROBE_KEY}"}
        backend = f"Flask-Caching {type(self).__name__} at {redact_url(location or '?')}"
        self._count = counter_for(location, (backend, json.dumps(named)))

    def get(self, key: str) -> Any:
        value = super().get(key)
        self._count(key, value is not None)
        return value

    def get_many(self, *keys: str) -> list[Any]:
        values: list[Any] = super().get_many(*keys)
        for key, value in zip(keys, values, strict=True):
            self._count(key, value is not None)
        return values

    def get_dict(self, *keys: str) -> dict[str, Any]:
        # cachelib's get_dict reads through get_many: counted there, once.
        found: dict[str, Any] = super().get_dict(*keys)
        return found


def _location(client: Any) -> str | None:
    """The URL of the Redis ``client`` talks to (its password kept: the tracker
    connects with it; it is never printed)."""
    try:
        found = client.connection_pool.connection_kwargs
    except AttributeError:
        return None
    auth = f":{quote(found['password'], safe='')}@" if found.get("password") else ""
    if found.get("path"):
        return f"unix://{auth}{found['path']}?db={found.get('db', 0)}"
    host, port = found.get("host", "localhost"), found.get("port", 6379)
    return f"redis://{auth}{host}:{port}/{found.get('db', 0)}"
