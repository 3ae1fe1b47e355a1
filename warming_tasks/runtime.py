"""The objects a worker process builds once from its settings: store, source, warmer."""

from __future__ import annotations

from functools import lru_cache

from .settings import get_settings
from .source import DataSource, load_source
from .store import CacheStore, connect
from .warmer import Warmer


@lru_cache(maxsize=1)
def get_store() -> CacheStore:
    settings = get_settings()
    return CacheStore(connect(settings), settings.key_prefix)


@lru_cache(maxsize=1)
def get_source() -> DataSource:
    return load_source(get_settings().source)


@lru_cache(maxsize=1)
def get_warmer() -> Warmer:
    return Warmer(get_store(), get_source(), get_settings())


def reset() -> None:
    """Forget what was built, so the next call reads the environment again."""
    get_settings.cache_clear()
    get_store.cache_clear()
    get_source.cache_clear()
    get_warmer.cache_clear()
