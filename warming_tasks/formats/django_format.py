"""``django``: exactly what ``django.core.cache.caches[WARMING_DJANGO_CACHE].get(key)``
returns as the source's object.

Keys and values go through the configured cache's own code, so nothing drifts
when Django changes: its ``make_key`` (``KEY_PREFIX``, ``VERSION``, a custom
``KEY_FUNCTION``) and its serializer — Django's own ``RedisCache`` serializer,
or django-redis' ``SERIALIZER`` and ``COMPRESSOR`` through ``client.encode``.
Django's settings come from ``DJANGO_SETTINGS_MODULE``; ``django.setup()`` runs
once per process, the first time this format is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from ..errors import SettingsError


class DjangoFormat:
    """The key function and serializer of one of Django's configured caches."""

    def __init__(self, alias: str = "default", cache: Any = None) -> None:
        """The cache ``alias`` of Django's ``CACHES`` (or ``cache``, a cache object
        built already)."""
        if cache is None:
            cache = _configured_cache(alias)
        from django.core.cache.backends.base import default_key_func  # noqa: PLC0415

        self.alias = alias
        self._make_key: Callable[[str], str] = cache.make_key
        self._encode = _encoder(cache, alias)
        # Django's own key function is "<KEY_PREFIX>:<VERSION>:<key>": inverted by
        # taking that head off. A custom one is inverted only through django-redis'
        # REVERSE_KEY_FUNCTION, each answer checked by the forward function.
        default = cache.key_func is default_key_func
        self._head = f"{cache.key_prefix}:{cache.version}:" if default else None
        self._reverse = None if default else _reverse_key(cache)
        self._key_func = "" if default else _qualname(cache.key_func)

    def redis_key(self, key: str | bytes) -> str:
        return self._make_key(key.decode() if isinstance(key, bytes) else key)

    def app_key(self, redis_key: str) -> str | None:
        """The application's key that this cache stores at ``redis_key`` (None: another
        prefix, another version, or not Django's key at all)."""
        head = self._head
        if head is not None:
            return redis_key[len(head) :] if redis_key.startswith(head) else None
        if self._reverse is None:
            raise SettingsError(
                f"WARMING_FORMAT=django cannot map a Redis key back to the application's key: "
                f"the cache {self.alias!r} names keys with its own KEY_FUNCTION "
                f"{self._key_func}; give it a REVERSE_KEY_FUNCTION (django-redis), or name a "
                "format of your own with an app_key() method in WARMING_FORMAT"
            )
        try:
            key = self._reverse(redis_key)
        except Exception:
            return None  # not a key this function made
        return key if isinstance(key, str) and self._make_key(key) == redis_key else None

    def encode(self, value: Any) -> bytes | int:
        encoded: bytes | int = self._encode(value)
        return encoded


def _reverse_key(cache: Any) -> Callable[[str], str] | None:
    """django-redis' ``REVERSE_KEY_FUNCTION`` where the cache sets one, else None."""
    params = getattr(cache, "_params", None)
    if not isinstance(params, dict) or not params.get("REVERSE_KEY_FUNCTION"):
        return None
    reverse: Callable[[str], str] = cache.client.reverse_key  # built without connecting
    return reverse


def _qualname(func: Any) -> str:
    return f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', repr(func))}"


def _configured_cache(alias: str) -> Any:
    try:
        import django  # noqa: PLC0415 - the application's dependency, only for this format
        from django.conf import settings  # noqa: PLC0415
    except ImportError:
        raise SettingsError(
            "WARMING_FORMAT=django is invalid: Django is not installed in this environment"
        ) from None
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not settings.configured and not module:
        raise SettingsError(
            "WARMING_FORMAT=django is invalid: DJANGO_SETTINGS_MODULE is not set "
            "(name your Django settings module, as manage.py does)"
        )
    try:
        from django.apps import apps  # noqa: PLC0415

        if not apps.ready:  # once per process (a forked pool child inherits it)
            django.setup()
        caches_setting = settings.CACHES
    except Exception as exc:
        raise SettingsError(
            f"DJANGO_SETTINGS_MODULE={module} is invalid: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())}"
        ) from None
    if alias not in caches_setting:
        known = ", ".join(sorted(caches_setting)) or "none"
        raise SettingsError(
            f"WARMING_DJANGO_CACHE={alias} is invalid: CACHES has no such alias (it has: {known})"
        )
    from django.core.cache import caches  # noqa: PLC0415

    try:
        return caches[alias]
    except Exception as exc:
        raise SettingsError(
            f"WARMING_DJANGO_CACHE={alias} is invalid: Django cannot build that cache "
            f"({type(exc).__name__}: {exc})"
        ) from None


def _encoder(cache: Any, alias: str) -> Callable[[Any], bytes | int]:
    """The cache's own way from an object to what it stores in Redis."""
    from django.core.cache.backends.redis import RedisCache  # noqa: PLC0415

    if isinstance(cache, RedisCache):
        # The client object is built without connecting; its serializer is the
        # one the cache's get() decodes with (OPTIONS may name another).
        serializer_dumps: Callable[[Any], bytes | int] = cache._cache._serializer.dumps
        return serializer_dumps
    try:
        from django_redis.cache import RedisCache as DjangoRedisCache  # noqa: PLC0415
    except ImportError:
        DjangoRedisCache = None
    if DjangoRedisCache is not None and isinstance(cache, DjangoRedisCache):
        client_encode: Callable[[Any], bytes | int] = cache.client.encode
        return client_encode
    backend = f"{type(cache).__module__}.{type(cache).__qualname__}"
    raise SettingsError(
        f"WARMING_DJANGO_CACHE={alias} is invalid: its BACKEND {backend} is not a Redis "
        "cache (django.core.cache.backends.redis.RedisCache or django_redis.cache.RedisCache)"
    )
