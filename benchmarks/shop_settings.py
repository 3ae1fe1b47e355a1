"""The Django settings of ``benchmarks.django_preload``: the shop's database and cache,
where the harness says (``BENCH_DJANGO_DB``, ``BENCH_DJANGO_CACHE``)."""

import os

SECRET_KEY = "benchmarks-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["benchmarks.shop"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": os.environ.get("BENCH_DJANGO_DB", "postgres"),
        "USER": "postgres",
        "HOST": "127.0.0.1",
        "PORT": "5432",
        "CONN_MAX_AGE": None,
    }
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("BENCH_DJANGO_CACHE", "redis://127.0.0.1:6379/0"),
    }
}
WARMING = {"SOURCE": "benchmarks.shop.cache:products", "FORMAT": "django"}
