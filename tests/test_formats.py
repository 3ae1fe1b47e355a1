"""The application's cache format: what warming-tasks writes, read back by the real
framework (Django's RedisCache, django-redis, Flask-Caching) in a process of the
application's own, and reads counted where the application reads."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis
from celery import Celery

from warming_tasks import tracker
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings

from .helpers import Processes, celery_env, cli, process_env, run_module, warming_lines
from .support.framework_sources import expected, hot_key_names

pytestmark = pytest.mark.integration

SOURCE = "framework_sources:Objects"


@dataclass(frozen=True)
class Framework:
    """How one framework is configured, for the worker and for the application."""

    id: str
    framework: str  # what app_cache reads through: django or flask
    warming: dict[str, str]  # the worker's WARMING_* settings
    app: dict[str, str] = field(default_factory=dict)  # the application's own settings


def framework_env(fw: Framework, server: RedisProcess) -> dict[str, str]:
    """Both sides' framework settings, pointed at the test's cache database."""
    url = server.url(0)
    if fw.framework == "django":
        return {"DJANGO_SETTINGS_MODULE": "django_settings", "TEST_DJANGO_LOCATION": url} | fw.app
    return {"TEST_FLASK_URL": url} | fw.app


DJANGO = Framework(
    "django",
    "django",
    {"WARMING_FORMAT": "django"},
    {"TEST_DJANGO_KEY_PREFIX": "shop", "TEST_DJANGO_VERSION": "3"},
)
FRAMEWORKS = [
    DJANGO,
    Framework(
        "django-redis-zlib",
        "django",
        {"WARMING_FORMAT": "django"},
        {
            "TEST_DJANGO_BACKEND": "django_redis",
            "TEST_DJANGO_KEY_PREFIX": "shop",
            "TEST_DJANGO_COMPRESSOR": "django_redis.compressors.zlib.ZlibCompressor",
        },
    ),
    Framework(
        "flask-caching",
        "flask",
        {"WARMING_FORMAT": "cachelib", "WARMING_KEY_PREFIX": "flask_cache_"},
    ),
]


def app_cache(fw: Framework, server: RedisProcess, *args: str, **extra: str) -> Any:
    """The application reading or writing through its framework, in a process of its own."""
    # The application's tracker shares the worker's WARMING_* settings (key prefix).
    env = framework_env(fw, server) | fw.warming | {"WARMING_REDIS_URL": server.url(0)} | extra
    done = run_module("app_cache", fw.framework, *args, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else None


def start(procs: Processes, server: RedisProcess, fw: Framework, **settings: object) -> None:
    env = celery_env(server, WARMING_SOURCE=SOURCE, **fw.warming, **settings)
    procs.worker(env | framework_env(fw, server))


def run(app: Celery, name: str, **kwargs: Any) -> dict[str, Any]:
    summary: dict[str, Any] = app.send_task(f"warming_tasks.{name}", kwargs=kwargs).get(timeout=60)
    return summary


@pytest.mark.parametrize("fw", FRAMEWORKS, ids=[fw.id for fw in FRAMEWORKS])
def test_the_framework_reads_back_the_objects_a_preload_wrote(
    fw: Framework,
    procs: Processes,
    redis_server: RedisProcess,
    client_app: Celery,
    cache: redis.Redis,
) -> None:
    start(procs, redis_server, fw)
    keys = hot_key_names()
    summary = run(client_app, "preload")
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (len(keys), 0, 0)

    read = app_cache(fw, redis_server, "get", *keys)
    assert read["values"] == {key: expected(key) for key in keys}
    assert read["values"]["visits"] == 42, "an int comes back an int"
    for key in ("product:0", "product:49", "visits"):
        assert 3240 <= cache.ttl(read["redis_keys"][key]) <= 3600, "the source's TTL"
    assert not any(cache.exists(key) for key in keys), "no raw key is written"


def test_refresh_rewrites_the_expiring_django_key_readable_and_never_resurrects(
    procs: Processes, redis_server: RedisProcess, client_app: Celery, cache: redis.Redis
) -> None:
    start(procs, redis_server, DJANGO)
    assert run(client_app, "preload")["loaded"] == 51
    app_cache(DJANGO, redis_server, "set", "product:0", "stale", "100")  # due for refresh
    app_cache(DJANGO, redis_server, "delete", "product:1")

    summary = run(client_app, "refresh")
    assert (summary["checked"], summary["refreshed"], summary["failed"]) == (51, 1, 0)
    read = app_cache(DJANGO, redis_server, "get", "product:0", "product:1")
    assert read["values"]["product:0"] == expected("product:0")
    assert cache.ttl(read["redis_keys"]["product:0"]) > 3000
    assert read["values"]["product:1"] == "<missing>", "a deleted key is never resurrected"


def test_predictive_writes_only_where_the_django_key_is_absent(
    procs: Processes, redis_server: RedisProcess, client_app: Celery, cache: redis.Redis
) -> None:
    start(procs, redis_server, DJANGO)
    tracker.reset(load_settings(redis_url=redis_server.url(0)))
    try:
        for key, reads in (("product:0", 30), ("product:1", 20), ("product:2", 1)):
            for _ in range(reads):
                tracker.track_access(key)
        assert tracker.flush_access() == 51
    finally:
        tracker.reset()
    app_cache(DJANGO, redis_server, "set", "product:1", "from-app", "600")

    summary = run(client_app, "predictive_load", limit=2)
    assert (summary["candidates"], summary["loaded"], summary["failed"]) == (1, 1, 0)
    read = app_cache(DJANGO, redis_server, "get", "product:0", "product:1", "product:2")
    assert read["values"] == {
        "product:0": expected("product:0"),
        "product:1": "from-app",
        "product:2": "<missing>",
    }


def with_tracking(fw: Framework) -> Framework:
    """``fw`` with the application reading through warming-tasks' tracking backend."""
    if fw.framework == "django":
        app = fw.app | {"TEST_DJANGO_BACKEND": "tracking"}
    else:
        app = {"TEST_FLASK_TYPE": "warming_tasks.flask.TrackingRedisCache"}
    return Framework(fw.id, fw.framework, fw.warming, app)


def reads(fw: Framework, server: RedisProcess) -> dict[str, Any]:
    done = cli("stats", "--json", env=celery_env(server, **fw.warming))
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)["reads"]
    return result


@pytest.mark.parametrize("fw", [FRAMEWORKS[0], FRAMEWORKS[2]], ids=["django", "flask-caching"])
def test_misses_counted_where_the_application_reads_drive_a_predictive_load(
    fw: Framework,
    procs: Processes,
    redis_server: RedisProcess,
    client_app: Celery,
    cache: redis.Redis,
) -> None:
    tracking = with_tracking(fw)
    start(procs, redis_server, tracking)
    wanted = [f"product:{i}" for i in range(5)]
    others = [f"product:{i}" for i in range(5, 10)]
    app_cache(tracking, redis_server, "get", *wanted, *wanted, *others)  # a cold cache
    assert reads(tracking, redis_server) == {"hits": 0, "misses": 15, "hit_ratio": 0.0}

    summary = run(client_app, "predictive_load", limit=5)
    assert (summary["candidates"], summary["loaded"]) == (5, 5), "the most missed keys"
    read = app_cache(tracking, redis_server, "get", *wanted, *others)
    assert [key for key, value in read["values"].items() if value == expected(key)] == wanted
    assert reads(tracking, redis_server) == {"hits": 5, "misses": 20, "hit_ratio": 0.2}


@pytest.mark.parametrize(
    ("fw", "returned", "counted"),
    [
        (
            DJANGO,
            {
                "get_or_set": {"v": 1},
                "get_many": {"k1": {"v": 1}},
                "aget_or_set": 3,
                "get": {"v": 1},
            },
            {"hits": 2, "misses": 3, "hit_ratio": 0.4},
        ),
        (
            FRAMEWORKS[2],
            {"get_many": [{"v": 1}, None], "get_dict": {"k1": {"v": 1}, "k3": None}, "get": None},
            {"hits": 2, "misses": 3, "hit_ratio": 0.4},
        ),
    ],
    ids=["django", "flask-caching"],
)
def test_each_read_method_counts_once_and_returns_what_the_backend_does(
    fw: Framework,
    returned: dict[str, Any],
    counted: dict[str, Any],
    redis_server: RedisProcess,
    cache: redis.Redis,
) -> None:
    tracking = with_tracking(fw)
    assert app_cache(tracking, redis_server, "exercise") == returned
    assert reads(tracking, redis_server) == counted


def test_aget_or_set_runs_a_callable_default_where_django_runs_it_and_counts_once(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    djangos = app_cache(DJANGO, redis_server, "default_thread", "k-django")
    ours = app_cache(with_tracking(DJANGO), redis_server, "default_thread", "k-ours")
    assert djangos == {"value": "made", "on_loop_thread": True}
    assert ours == djangos
    assert reads(with_tracking(DJANGO), redis_server) == {
        "hits": 0,
        "misses": 1,
        "hit_ratio": 0.0,
    }


@pytest.mark.parametrize("extra", [2, -1], ids=["more-values", "fewer-values"])
def test_get_many_returns_what_the_client_returned_when_keys_and_values_do_not_pair(
    extra: int, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    flasks = app_cache(FRAMEWORKS[2], redis_server, "uneven_many", str(extra))
    ours = app_cache(with_tracking(FRAMEWORKS[2]), redis_server, "uneven_many", str(extra))
    assert "raised" not in flasks
    assert ours == flasks
    paired = {2: {"hits": 1, "misses": 1}, -1: {"hits": 1, "misses": 0}}[extra]
    counted = reads(with_tracking(FRAMEWORKS[2]), redis_server)
    assert {k: counted[k] for k in ("hits", "misses")} == paired


def test_a_value_the_framework_cannot_store_fails_alone(
    procs: Processes, redis_server: RedisProcess, client_app: Celery
) -> None:
    start(procs, redis_server, DJANGO, TEST_WITH_BAD=1)
    summary = run(client_app, "preload")
    assert (summary["loaded"], summary["failed"]) == (51, 1)
    [error] = summary["errors"]
    assert error["key"] == "bad:lambda"
    assert error["reason"].startswith("cannot be encoded for the cache: ")
    assert "pickle" in error["reason"].lower()
    read = app_cache(DJANGO, redis_server, "get", "product:7", "bad:lambda")
    assert read["values"] == {"product:7": expected("product:7"), "bad:lambda": "<missing>"}


BAD_FORMAT_SETTINGS = [
    (
        {"WARMING_FORMAT": "xml"},
        "WARMING_FORMAT=xml is invalid: expected raw, django, cachelib, "
        "or 'module:attribute' of a format object",
    ),
    (
        {"WARMING_FORMAT": "django", "DJANGO_SETTINGS_MODULE": ""},
        "WARMING_FORMAT=django is invalid: DJANGO_SETTINGS_MODULE is not set",
    ),
    (
        {"WARMING_FORMAT": "django", "WARMING_DJANGO_CACHE": "sessions"},
        "WARMING_DJANGO_CACHE=sessions is invalid: CACHES has no such alias (it has: default)",
    ),
    (
        {"WARMING_FORMAT": "django", "TEST_DJANGO_BACKEND": "locmem"},
        "WARMING_DJANGO_CACHE=default is invalid: its BACKEND "
        "django.core.cache.backends.locmem.LocMemCache is not a Redis cache",
    ),
    (
        {"WARMING_FORMAT": "fixture_sources:Catalogue"},
        "WARMING_FORMAT=fixture_sources:Catalogue is invalid: Catalogue has no redis_key() "
        "and encode() methods",
    ),
]


@pytest.mark.parametrize(
    ("settings", "line"),
    BAD_FORMAT_SETTINGS,
    ids=["unknown", "no-settings-module", "no-alias", "not-redis", "not-a-format"],
)
def test_a_bad_format_setting_is_one_line_and_exit_2(
    redis_server: RedisProcess, settings: dict[str, str], line: str
) -> None:
    env = celery_env(redis_server) | framework_env(DJANGO, redis_server) | settings
    done = cli("preload", env=env)
    assert done.returncode == 2
    assert done.stderr.startswith(f"warming-tasks: {line}")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_the_worker_refuses_a_bad_format_at_start(
    procs: Processes, redis_server: RedisProcess
) -> None:
    env = celery_env(redis_server, WARMING_FORMAT="django", WARMING_DJANGO_CACHE="sessions")
    worker = procs.worker(env | framework_env(DJANGO, redis_server), wait=False)
    assert worker.process is not None
    assert worker.process.wait(timeout=30) == 2
    assert warming_lines(worker.log()) == [
        "warming-tasks: WARMING_DJANGO_CACHE=sessions is invalid: "
        "CACHES has no such alias (it has: default)"
    ]


def test_no_framework_is_imported_unless_its_format_is_chosen() -> None:
    code = (
        "import sys, warming_tasks, warming_tasks.tasks, warming_tasks.app, warming_tasks.cli\n"
        "from warming_tasks.formats import load_format\n"
        "from warming_tasks.settings import load_settings\n"
        "load_format(load_settings())\n"
        "frameworks = ('django.conf', 'django.core', 'django.apps', 'django_redis', 'flask', "
        "'flask_caching', 'cachelib')\n"
        "print(sorted(m for m in sys.modules if m.startswith(frameworks)))"
    )
    # (kombu's JSON imports django.utils.functional wherever Django is installed:
    # not Django's settings, apps or caches, which are what this format would load.)
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=process_env({"WARMING_REDIS_URL": "redis://127.0.0.1:1/0"}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
