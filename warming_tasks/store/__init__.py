"""Every Redis command the suite sends, and nothing else in the package talks to
Redis: cache writes and probes (``cache``), the frequency set (``frequency``),
run records (``runs``), the refresh lock (``lock``), each script in ``lua/``."""

from __future__ import annotations

from .cache import CacheCommands, Entry, Value, WriteMode
from .client import Client, cluster_url, connect
from .frequency import FrequencyCommands
from .lock import LockCommands
from .runs import RunCommands, Warmed

__all__ = [
    "CacheStore",
    "Client",
    "Entry",
    "Value",
    "Warmed",
    "WriteMode",
    "cluster_url",
    "connect",
]


class CacheStore(CacheCommands, FrequencyCommands, RunCommands, LockCommands):
    """The cache Redis as the suite sees it, with ``key_prefix`` applied to every key."""
