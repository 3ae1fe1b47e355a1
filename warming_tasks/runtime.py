"""One runtime per process: the settings, and the cache format, store, source and
warmer built from them, each once, on first use. Every face of the suite (worker,
beat, the CLI and ``check``, ``manage.py warming``, the exporter) takes them from
here, so a process validates its configuration once and writes keys one way."""

from __future__ import annotations

from functools import lru_cache

from .formats import CacheFormat, load_format
from .settings import get_settings
from .source import DataSource, load_source
from .store import CacheStore, connect
from .warmer import Warmer

__all__ = [
    "get_format",
    "get_own_store",
    "get_settings",
    "get_source",
    "get_store",
    "get_warmer",
    "reset",
]


@lru_cache(maxsize=1)
def get_format() -> CacheFormat:
    # Built once per process: for Django this is where django.setup() runs.
    return load_format(get_settings())


@lru_cache(maxsize=1)
def get_store() -> CacheStore:
    """The cache Redis, its keys named as the application's framework names them."""
    settings = get_settings()
    return CacheStore(connect(settings), settings.key_prefix, get_format().redis_key)


@lru_cache(maxsize=1)
def get_own_store() -> CacheStore:
    """The cache Redis for the suite's own keys alone (runs, counts, control): what
    ``stats``, ``pause`` and the exporter read, with no need of the format (nor of
    Django)."""
    settings = get_settings()
    return CacheStore(connect(settings), settings.key_prefix)


@lru_cache(maxsize=1)
def get_source() -> DataSource:
    return load_source(get_settings().source)


@lru_cache(maxsize=1)
def get_warmer() -> Warmer:
    return Warmer(get_store(), get_source(), get_settings(), fmt=get_format())


def reset() -> None:
    """Forget what was built, so the next call reads the configuration again (a
    forked pool child must not share its parent's connections)."""
    get_settings.cache_clear()
    get_format.cache_clear()
    get_store.cache_clear()
    get_own_store.cache_clear()
    get_source.cache_clear()
    get_warmer.cache_clear()
