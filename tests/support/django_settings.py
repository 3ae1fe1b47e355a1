"""The Django settings of the tests' application, from TEST_DJANGO_* env vars."""

from __future__ import annotations

import os
from typing import Any

SECRET_KEY = "tests-only"
INSTALLED_APPS: list[str] = []
USE_TZ = True

_BACKENDS = {
    "django": "django.core.cache.backends.redis.RedisCache",
    "django_redis": "django_redis.cache.RedisCache",
    "tracking": "warming_tasks.django.TrackingRedisCache",
    "tracking_django_redis": "warming_tasks.django.TrackingDjangoRedisCache",
    "locmem": "django.core.cache.backends.locmem.LocMemCache",
}
_backend = os.environ.get("TEST_DJANGO_BACKEND", "django")
_cache: dict[str, Any] = {
    "BACKEND": _BACKENDS[_backend],
    "LOCATION": os.environ.get("TEST_DJANGO_LOCATION", "redis://127.0.0.1:1/0"),
    "KEY_PREFIX": os.environ.get("TEST_DJANGO_KEY_PREFIX", ""),
    "VERSION": int(os.environ.get("TEST_DJANGO_VERSION", "1")),
}
if _backend.endswith("django_redis") and os.environ.get("TEST_DJANGO_COMPRESSOR"):
    _cache["OPTIONS"] = {"COMPRESSOR": os.environ["TEST_DJANGO_COMPRESSOR"]}
for _name in ("KEY_FUNCTION", "REVERSE_KEY_FUNCTION"):  # dotted paths, as Django takes them
    if os.environ.get(f"TEST_DJANGO_{_name}"):
        _cache[_name] = os.environ[f"TEST_DJANGO_{_name}"]
CACHES = {os.environ.get("TEST_DJANGO_ALIAS", "default"): _cache}
