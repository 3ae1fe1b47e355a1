"""The Django settings of the benchmark's application (DJANGO_SETTINGS_MODULE)."""

import os

SECRET_KEY = "benchmarks-only"
INSTALLED_APPS: list[str] = []
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("WARMING_REDIS_URL", "redis://127.0.0.1:6379/0"),
    }
}
