"""Django cache backends that count the application's reads where it reads.

    CACHES = {"default": {
        "BACKEND": "warming_tasks.django.TrackingRedisCache",  # configured like Django's RedisCache
        "LOCATION": "redis://127.0.0.1:6379/0",
    }}

``get``, ``get_many`` and ``get_or_set`` (and their async forms, which Django
runs through them; ``aget_or_set`` counts once too) count each key read, with
whether it hit, through the same buffered tracker as ``track_access``: no
network round trip per read, and never an exception from the counting. The
keys counted are the application's (``product:42``), as predictive loads and
``stats`` speak them. The counts go to this cache's own Redis (its ``LOCATION``),
where the workers find them, unless ``WARMING_REDIS_URL`` is set.
``TrackingDjangoRedisCache`` is the same over django-redis' ``RedisCache``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache

from ..django_settings import first_location
from ..ops.agreement import PROBE_KEY
from ..tracker import counter_for
from .queryset import QuerySetSource
from .rewarm import rewarm_on_save

__all__ = [
    "QuerySetSource",
    "TrackingDjangoRedisCache",
    "TrackingReads",
    "TrackingRedisCache",
    "rewarm_on_save",
]

_MISSING = object()


class TrackingReads:
    """Mixin over a Django cache backend: count each key read, hit or miss, into
    the Redis of this cache (its ``LOCATION``) unless ``WARMING_REDIS_URL`` says
    where every process counts."""

    def __init__(self, server: Any, params: Any) -> None:
        super().__init__(server, params)  # type: ignore[call-arg]
        # Behind Sentinel, LOCATION names a service, not a host: no URL to count into
        # (the counts go where WARMING_REDIS_URL says).
        location = None if _behind_sentinel(params) else first_location(server)
        alias = _alias(server, params)
        named = {
            "probe": self.make_key(PROBE_KEY),  # type: ignore[attr-defined]
            "framework": "django",
            "alias": alias,
            "at": time.time(),
        }
        backend = f"Django cache {alias!r} ({type(self).__name__})"
        self._count = counter_for(location, (backend, json.dumps(named)))

    def get(self, key: Any, default: Any = None, version: Any = None, **kwargs: Any) -> Any:
        value = super().get(key, _MISSING, version, **kwargs)  # type: ignore[misc]
        if value is _MISSING:
            self._count(key, False)
            return default
        self._count(key, True)
        return value

    def get_many(self, keys: Iterable[Any], version: Any = None, **kwargs: Any) -> Any:
        keys = list(keys)
        found = super().get_many(keys, version=version, **kwargs)  # type: ignore[misc]
        for key in keys:
            self._count(key, key in found)
        return found

    def get_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        # Django's own get_or_set, with its read counted once (it reads again after add).
        value = super().get(key, _MISSING, version)  # type: ignore[misc]
        self._count(key, value is not _MISSING)
        if value is not _MISSING:
            return value
        if callable(default):
            default = default()
        self.add(key, default, timeout=timeout, version=version)  # type: ignore[attr-defined]
        return super().get(key, default, version)  # type: ignore[misc]

    async def aget_or_set(
        self, key: Any, default: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> Any:
        # Django's own, step for step, so a callable default runs on the event loop's
        # thread as Django runs it; its second read is not counted (one read, once).
        value = await self.aget(key, _MISSING, version=version)  # type: ignore[attr-defined]
        if value is not _MISSING:
            return value
        if callable(default):
            default = default()
        await self.aadd(key, default, timeout=timeout, version=version)  # type: ignore[attr-defined]
        uncounted = super().get  # type: ignore[misc]
        return await sync_to_async(uncounted, thread_sensitive=True)(key, default, version)


def _behind_sentinel(params: Any) -> bool:
    """Whether django-redis reaches this cache through Sentinel."""
    options = (params.get("OPTIONS") or {}) if isinstance(params, dict) else {}
    if options.get("SENTINELS"):
        return True
    from django.conf import settings  # noqa: PLC0415

    factory = options.get("CONNECTION_FACTORY") or getattr(
        settings, "DJANGO_REDIS_CONNECTION_FACTORY", ""
    )
    return "Sentinel" in str(factory or "")


def _alias(server: Any, params: Any) -> str | None:
    """Which alias of ``CACHES`` this backend is (Django gives a backend its
    settings, not its name): the one whose entry matches."""
    from django.conf import settings  # noqa: PLC0415

    for alias, conf in getattr(settings, "CACHES", {}).items():
        rest = {k: v for k, v in conf.items() if k not in ("BACKEND", "LOCATION")}
        if conf.get("LOCATION") == server and rest == params:
            return str(alias)
    return None


class TrackingRedisCache(TrackingReads, RedisCache):  # type: ignore[misc]
    """Django's ``RedisCache``, counting the reads for predictive loads."""


def _django_redis() -> type:
    from django_redis.cache import RedisCache as DjangoRedisCache  # noqa: PLC0415

    return type(
        "TrackingDjangoRedisCache",
        (TrackingReads, DjangoRedisCache),
        {"__doc__": "django-redis' ``RedisCache``, counting the reads.", "__module__": __name__},
    )


def __getattr__(name: str) -> Any:
    # django-redis is optional: its variant is built only when a setting names it.
    if name == "TrackingDjangoRedisCache":
        cls = _django_redis()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
