"""Settings for Django's own ``tests/runtests.py``, running ``cache.tests.RedisCacheTests``.

What it changes from Django's ``test_sqlite.py`` and why: ``CACHES`` gains a Redis
cache at the server the runner started (Django's suite tests Redis only when a
configured cache names ``django.core.cache.backends.redis.RedisCache``, and finds it
by that path); with ``FRAMEWORK_SUITE_BACKEND=ours`` that path resolves to
warming-tasks' ``TrackingRedisCache``, so every cache the suite builds is ours; and
the test runner records each test's outcome. The rest is ``test_sqlite.py`` as it is.
"""

from __future__ import annotations

import os

DATABASES = {
    "default": {"ENGINE": "django.db.backends.sqlite3"},
    "other": {"ENGINE": "django.db.backends.sqlite3"},
}
SECRET_KEY = "django_tests_secret_key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = False

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "redis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ["FRAMEWORK_SUITE_REDIS_URL"],
    },
}
TEST_RUNNER = "django_suite_runner.RecordingRunner"

if os.environ.get("FRAMEWORK_SUITE_BACKEND") == "ours":
    import django.core.cache.backends.redis as _redis

    from warming_tasks.django import TrackingRedisCache

    _redis.RedisCache = TrackingRedisCache
