"""``warming-tasks listen``: the application's cache misses counted by Redis itself.

Redis publishes a key-miss notification for every read of an absent key, from any
client in any language. The listener subscribes to them, maps each Redis key back
to the application's key through the format's ``app_key`` (``keys``), and counts it
into the frequency set through the tracker, as ``track_access(key, hit=False)``
would; predictive loads then rank those keys. It turns the notifications on where
it may (``flags``), holds a heartbeat that keeps a second listener standing by, and
estimates the misses nobody received while no listener ran (``lost``).
"""

from __future__ import annotations

from .listener import Listener

__all__ = ["Listener"]
