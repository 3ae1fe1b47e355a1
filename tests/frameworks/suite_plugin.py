"""pytest plugin for the django-redis and Flask-Caching suites (``-p suite_plugin``).

With ``FRAMEWORK_SUITE_BACKEND=ours`` the framework's Redis backend names resolve to
warming-tasks' tracking backends, as a user's setting naming ours would: every cache
the suite builds by name (``BACKEND``, ``CACHE_TYPE``, ``backends.RedisCache(...)``)
is ours; nothing else of the suite changes. It records each test's outcome as JSON
in ``FRAMEWORK_SUITE_OUTCOMES``. With ``FRAMEWORK_SUITE_SETTINGS=NAME`` it keeps
django-redis' tests of that settings module only (plus, with
``FRAMEWORK_SUITE_UNPARAMETRIZED=1``, those of no settings module): Django's settings
are configured once per process, so one process runs one settings module.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

_SUITE = os.environ.get("FRAMEWORK_SUITE", "")
_OUTCOMES: dict[str, str] = {}


def _swap_in_ours() -> None:
    if _SUITE == "django-redis":
        import django_redis.cache  # noqa: PLC0415

        from warming_tasks.django import TrackingDjangoRedisCache  # noqa: PLC0415

        django_redis.cache.RedisCache = _named_as(
            django_redis.cache.RedisCache, TrackingDjangoRedisCache
        )
    elif _SUITE == "flask":
        from flask_caching import backends  # noqa: PLC0415

        from warming_tasks.flask import TrackingRedisCache  # noqa: PLC0415

        # Only the class we ship: the Sentinel and Cluster caches stay Flask-Caching's.
        backends.RedisCache = _named_as(backends.RedisCache, TrackingRedisCache)  # type: ignore[misc,assignment]


def _named_as(theirs: type, ours: type) -> type:
    """``ours`` under the name of ``theirs``: the suites name tests after the class
    (``test_init_nullcache[RedisCache]``), and a test's id must not change with the
    backend."""
    return type(theirs.__name__, (ours,), {"__module__": theirs.__module__})


if os.environ.get("FRAMEWORK_SUITE_BACKEND") == "ours":
    _swap_in_ours()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = os.environ.get("FRAMEWORK_SUITE_SETTINGS")
    if not wanted:
        return
    unparametrized = os.environ.get("FRAMEWORK_SUITE_UNPARAMETRIZED") == "1"
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        params: dict[str, Any] = getattr(getattr(item, "callspec", None), "params", {})
        named = params.get("cache_settings")
        (kept if named == wanted or (named is None and unparametrized) else dropped).append(item)
    items[:] = kept
    config.hook.pytest_deselected(items=dropped)


_WORST = ["passed", "skipped", "xfailed", "xpassed", "failed", "error"]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        else:
            outcome = report.outcome
    elif report.failed:
        outcome = "error"  # in a fixture's setup or teardown
    elif report.skipped:
        outcome = "skipped"
    else:
        return
    before = _OUTCOMES.get(report.nodeid, "passed")
    _OUTCOMES[report.nodeid] = max(before, outcome, key=_WORST.index)


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get("FRAMEWORK_SUITE_OUTCOMES")
    if path:
        Path(path).write_text(json.dumps(_OUTCOMES, indent=1))
