"""What a worker process builds once from its settings (store, source, warmer) and
the start-up checks that Celery's signals run, for our app and users' apps alike."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from celery import signals
from celery.worker.control import inspect_command

from ..formats import CacheFormat, load_format
from ..ops import startup
from ..ops.agreement import PROBE_KEY, describe
from ..settings import get_settings
from ..source import DataSource, load_source
from ..store import CacheStore, connect
from ..warmer import Warmer


@lru_cache(maxsize=1)
def get_format() -> CacheFormat:
    # Built once per process: for Django this is where django.setup() runs.
    return load_format(get_settings())


@lru_cache(maxsize=1)
def get_store() -> CacheStore:
    settings = get_settings()
    return CacheStore(connect(settings), settings.key_prefix, get_format().redis_key)


@lru_cache(maxsize=1)
def get_source() -> DataSource:
    return load_source(get_settings().source)


@lru_cache(maxsize=1)
def get_warmer() -> Warmer:
    return Warmer(get_store(), get_source(), get_settings(), fmt=get_format())


def reset() -> None:
    """Forget what was built, so the next call reads the environment again."""
    get_settings.cache_clear()
    get_format.cache_clear()
    get_store.cache_clear()
    get_source.cache_clear()
    get_warmer.cache_clear()


# Connected here rather than in the app module, so that a user's own app that
# includes these tasks gets the checks too.
@signals.celeryd_init.connect
def _check_worker(**_: Any) -> None:
    startup.check_worker()


@signals.beat_init.connect
def _check_beat(**_: Any) -> None:
    startup.check_settings()


@signals.worker_ready.connect
def _warn_operator(**_: Any) -> None:
    startup.warn_operator()


@inspect_command()
def warming_cache(state: Any, **_: Any) -> dict[str, Any]:
    """Where and how this worker writes keys: a run command compares with its own."""
    return describe(get_settings(), get_format().redis_key(PROBE_KEY))


@signals.worker_process_init.connect
def _fresh_after_fork(**_: Any) -> None:
    # Each pool child builds its own source, client and warmer: a database
    # connection opened by the parent must not be shared across processes.
    reset()
