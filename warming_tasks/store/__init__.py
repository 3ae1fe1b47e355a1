"""Every Redis command the suite sends, and nothing else in the package talks to
Redis: cache writes and probes (``cache``), the frequency set (``frequency``),
run records (``runs``), the refresh lock (``lock``), pause, cancel and the source
budget (``control``), what the metrics read (``snapshot``), values kept past expiry
while the source fails (``stale``), warm requests waiting (``pending``), the key-miss
listener's subscription and records (``listen``), each script in ``lua/``; ``wire``
packs the batch path's commands by hand. A copy reads another Redis (``origin``) and
writes the cache only where it holds no key (``restore``)."""

from __future__ import annotations

from .cache import CacheCommands, Entry, Reply, Seen, Value
from .client import Client, cluster_url, connect
from .control import ControlCommands
from .frequency import FrequencyCommands
from .listen import ListenCommands
from .lock import LockCommands
from .pending import PendingCommands
from .restore import RestoreCommands
from .runs import RunCommands, Warmed
from .snapshot import Snapshot, SnapshotCommands
from .stale import StaleCommands

__all__ = [
    "CacheStore",
    "Client",
    "Entry",
    "Reply",
    "Seen",
    "Snapshot",
    "Value",
    "Warmed",
    "cluster_url",
    "connect",
]


class CacheStore(
    CacheCommands,
    StaleCommands,
    FrequencyCommands,
    RunCommands,
    LockCommands,
    ControlCommands,
    PendingCommands,
    SnapshotCommands,
    ListenCommands,
    RestoreCommands,
):
    """The cache Redis as the suite sees it, with ``key_prefix`` applied to every key."""
