"""The application's side, run as its own process: it reads (or writes) keys
through its real cache framework and prints what it got as JSON.

    python -m app_cache django|flask get KEY...    # {"values": {...}, "redis_keys": {...}}
    python -m app_cache django|flask set KEY VALUE TIMEOUT
    python -m app_cache django|flask delete KEY
    python -m app_cache django|flask exercise          # every read method once
    python -m app_cache django default_thread KEY     # where aget_or_set runs its default
    python -m app_cache flask uneven_many EXTRA       # get_many over a client answering EXTRA more

Django reads DJANGO_SETTINGS_MODULE (django_settings); Flask-Caching's RedisCache
is configured from TEST_FLASK_URL and TEST_FLASK_PREFIX (default flask_cache_).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from typing import Any

import django
from django.core.cache import caches
from flask import Flask
from flask_caching import Cache

_MISSING = "<missing>"


def _django() -> tuple[Any, Any]:
    django.setup()
    cache = caches[os.environ.get("TEST_DJANGO_ALIAS", "default")]
    return cache, cache.make_key


def _flask() -> tuple[Any, Any]:
    app = Flask("tests")
    cache_type = os.environ.get("TEST_FLASK_TYPE", "RedisCache")
    prefix = os.environ.get("TEST_FLASK_PREFIX")
    config = {"CACHE_TYPE": cache_type, "CACHE_REDIS_URL": os.environ["TEST_FLASK_URL"]}
    if prefix is not None:
        config["CACHE_KEY_PREFIX"] = prefix
    cache = Cache(app, config=config)
    app.app_context().push()
    backend: Any = cache.cache
    return cache, lambda key: backend._get_prefix() + key


def _exercise(framework: str, cache: Any) -> dict[str, Any]:
    """k1 set through get_or_set (a miss), then read as a hit; k2 and k3 missing."""
    if framework == "django":
        return {
            "get_or_set": cache.get_or_set("k1", {"v": 1}, 600),  # miss, then set
            "get_many": cache.get_many(["k1", "k2"]),  # a hit and a miss
            "aget_or_set": asyncio.run(cache.aget_or_set("k3", 3, 600)),  # a miss
            "get": cache.get("k1", "default"),  # a hit
        }
    cache.set("k1", {"v": 1}, 600)
    return {
        "get_many": cache.get_many("k1", "k2"),  # a hit and a miss
        "get_dict": cache.get_dict("k1", "k3"),  # a hit and a miss
        "get": cache.get("k2"),  # a miss
    }


def _default_runs_on_the_loop(cache: Any, key: str) -> dict[str, Any]:
    """Where ``aget_or_set`` runs a callable default: on the event loop's thread, or
    in a worker thread (where an ``await``-free default that touches loop-bound state
    would break)."""

    async def read() -> dict[str, Any]:
        loop_thread = threading.get_ident()
        ran_in: list[int] = []

        def default() -> str:
            ran_in.append(threading.get_ident())
            return "made"

        value = await cache.aget_or_set(key, default, 600)
        return {"value": value, "on_loop_thread": ran_in == [loop_thread]}

    return asyncio.run(read())


class _UnevenClient:
    """A read client whose ``MGET`` answers ``extra`` more values than keys asked
    (fewer when negative), as Flask-Caching's own client-override test has one."""

    def __init__(self, client: Any, extra: int) -> None:
        self._client, self._extra = client, extra

    def mget(self, *args: Any, **kwargs: Any) -> list[Any]:
        values: list[Any] = self._client.mget(*args, **kwargs)
        if self._extra < 0:
            return values[: self._extra]
        return values + [values[0]] * self._extra


def _uneven_many(cache: Any, extra: int) -> Any:
    backend = cache.cache
    backend.set("k1", "v1", 600)
    backend._read_client = _UnevenClient(backend._read_client, extra)
    try:
        return {"returned": backend.get_many("k1", "k2")}
    except Exception as exc:  # what the application would see raised
        return {"raised": f"{type(exc).__name__}: {exc}"}


def main(framework: str, action: str, *args: str) -> None:
    cache, redis_key = _django() if framework == "django" else _flask()
    if action == "get":
        values = {}
        for key in args:
            value = cache.get(key, _MISSING) if framework == "django" else cache.get(key)
            values[key] = None if value is None else value
        print(json.dumps({"values": values, "redis_keys": {k: redis_key(k) for k in args}}))
    elif action == "get_many":
        print(
            json.dumps(
                {
                    "values": cache.get_many(*args)
                    if framework == "flask"
                    else cache.get_many(list(args))
                }
            )
        )
    elif action == "exercise":  # every read method a tracking backend counts, once each
        print(json.dumps(_exercise(framework, cache), default=repr))
    elif action == "default_thread":
        print(json.dumps(_default_runs_on_the_loop(cache, args[0])))
    elif action == "uneven_many":
        print(json.dumps(_uneven_many(cache, int(args[0]))))
    elif action == "set":
        key, value, timeout = args
        cache.set(key, value, timeout=int(timeout))
    elif action == "delete":
        cache.delete(args[0])
    else:
        raise SystemExit(f"unknown action {action}")


if __name__ == "__main__":
    main(*sys.argv[1:])
