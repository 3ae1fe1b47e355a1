"""What worker and beat check when they start, for our app and for users' apps alike.

The signal handlers live in ``tasks`` (imported by every app that includes the
tasks); ``app`` adds an earlier settings check for ``celery -A warming_tasks``.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from ..errors import WarmingError
from ..runtime import get_format, get_own_store, get_settings, get_sources
from ..settings import Settings, redact_url
from ..store import cluster_url, connect
from .checks import startup_warnings

log = logging.getLogger("warming_tasks")


def refuse(exc: WarmingError) -> NoReturn:
    """Stop the process with one line and exit code 2: no traceback for an operator."""
    print(f"warming-tasks: {exc}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def find_project_modules() -> None:
    """Find the project's own modules (the source, the Django settings) from the
    directory the process runs in, as ``python -m`` does: Celery puts it on the
    path only while it imports the app, and the source is imported after."""
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())


def check_settings() -> None:
    find_project_modules()
    try:
        get_settings()
    except WarmingError as exc:
        refuse(exc)


def check_cache_url(settings: Settings) -> None:
    """Raise SettingsError if the cache URL cannot make a client (no round trip)."""
    if settings.redis_cluster:
        cluster_url(settings.redis_url)  # its client would connect now: check the URL only
    else:
        connect(settings).close()


def check_worker() -> None:
    """Settings, the cache URL and the source must be usable before a worker starts."""
    find_project_modules()
    try:
        settings = get_settings()
        check_cache_url(settings)
        # Here, before the pool forks, so Django's setup (for its format) is done once.
        get_format()
        if settings.source_specs():
            # Each pool child builds its own after fork (runtime.reset).
            get_sources()
    except WarmingError as exc:
        refuse(exc)
    log.info(
        "warming-tasks: cache %s, format %s, strategy %s, source %s",
        redact_url(settings.redis_url),
        settings.format,
        settings.strategy.value,
        ", ".join(f"{n}={spec}" for n, spec in settings.source_specs().items()) or "(unset)",
    )


def warn_operator() -> None:
    """Log, once the worker is up, what in the cache Redis' configuration puts data at risk."""
    settings = get_settings()
    if not settings.source_specs():
        log.warning(
            "warming-tasks: WARMING_SOURCE is not set: every warming run this worker "
            "takes will fail until it is (name your data source as 'module:attribute'); "
            "a copy from another Redis needs none"
        )
    try:
        for warning in startup_warnings(get_own_store()):
            log.warning("warming-tasks: %s", warning)
    except Exception as exc:
        log.warning(
            "warming-tasks: cannot reach the cache Redis at %s: %s",
            redact_url(settings.redis_url),
            exc,
        )
