"""A Django shop's settings, configured as a Django team would: warming-tasks from
its ``WARMING`` dict, the cache from ``CACHES`` (no ``WARMING_*`` variables). The
tests say where its servers are through ``SHOP_*`` variables."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "tests-only"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
INSTALLED_APPS = ["shop", "warming_tasks.django"]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SHOP_DB", str(BASE_DIR / "db.sqlite3")),
    }
}
CACHES = {
    "default": {
        "BACKEND": os.environ.get("SHOP_CACHE_BACKEND", "warming_tasks.django.TrackingRedisCache"),
        "LOCATION": os.environ["SHOP_REDIS_URL"],
        "KEY_PREFIX": os.environ.get("SHOP_KEY_PREFIX", "shop"),
        "VERSION": int(os.environ.get("SHOP_CACHE_VERSION", "1")),
    }
}
WARMING = {
    "SOURCE": os.environ.get("SHOP_SOURCE", "shop.cache:products"),
    "FORMAT": "django",
    "BATCH_SIZE": 100,
    "FLUSH_INTERVAL": 1,
}
