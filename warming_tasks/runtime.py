"""One runtime per process: the settings, and the cache format, store, source and
warmer built from them, each once, on first use (and the other servers copies read
from, one client each). Every face of the suite (worker,
beat, the CLI and ``check``, ``manage.py warming``, the exporter) takes them from
here, so a process validates its configuration once and writes keys one way."""

from __future__ import annotations

import contextlib
from functools import lru_cache

from .formats import CacheFormat, load_format
from .settings import get_settings
from .sources import NamedSource, load_sources, pick
from .store import CacheStore, connect
from .store.origin import Origin
from .warmer import Warmer

__all__ = [
    "get_format",
    "get_origin",
    "get_own_store",
    "get_settings",
    "get_sources",
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
def get_sources() -> dict[str, NamedSource]:
    """Every configured source by name, each with the settings its runs use."""
    return load_sources(get_settings())


def _named(name: str | None) -> NamedSource:
    """The source named ``name``; None: the first (the only one, for most)."""
    return pick(get_sources(), name)[0]


_warmers: dict[str, Warmer] = {}


def get_warmer(name: str | None = None) -> Warmer:
    """The warmer of the source ``name`` (None: the first), with that source's settings."""
    named = _named(name)
    warmer = _warmers.get(named.name)
    if warmer is None:
        warmer = Warmer(
            get_store(), named.source, named.settings, fmt=get_format(), budget=named.budget
        )
        _warmers[named.name] = warmer
    return warmer


_origins: dict[str, Origin] = {}


def get_origin(url: str) -> Origin:
    """The other Redis at ``url`` that a copy reads from, one client per process and
    server (a copy's batches come one after another to the same workers)."""
    origin = _origins.get(url)
    if origin is None:
        origin = _origins[url] = Origin.from_url(url, get_settings().key_prefix)
    return origin


def reset() -> None:
    """Forget what was built, so the next call reads the configuration again (a
    forked pool child must not share its parent's connections)."""
    for origin in _origins.values():
        # redis-py shuts a socket down only in the process that opened it: a forked
        # child closing its copy leaves the parent's connection alone.
        with contextlib.suppress(Exception):
            origin.close()
    _origins.clear()
    get_settings.cache_clear()
    get_format.cache_clear()
    get_store.cache_clear()
    get_own_store.cache_clear()
    get_sources.cache_clear()
    _warmers.clear()
