"""An application process that tracks accesses, for the fault suite (tests/faults).

``python tracking_app.py flood N``: track N distinct keys as fast as it can, then
flush; print one JSON line with RSS measurements and the tracker's counts.

``python tracking_app.py outage``: track and flush with the cache Redis up, then
down, then up again, printing one JSON line a step and reading one line on stdin
between steps (the test stops or starts Redis, or counts what reached its port,
meanwhile); with Redis down it tracks, then flushes three times, one step each;
the flush at exit delivers what was tracked last.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import psutil
import redis

from warming_tasks import flush_access, track_access
from warming_tasks import tracker as tracker_module


def rss() -> int:
    return int(psutil.Process().memory_info().rss)


def say(**data: Any) -> None:
    print(json.dumps(data), flush=True)


def flood(n: int) -> None:
    state = tracker_module._tracker
    track_access("warm-up")  # the tracker starts its flusher on the first access
    flush_access()
    base = peak = rss()
    peak_buffered = 0
    for i in range(n):
        track_access(f"product:{i:07d}:name")
        if i % 20_000 == 0:
            peak = max(peak, rss())
            peak_buffered = max(peak_buffered, state.buffered())
    peak = max(peak, rss())
    peak_buffered = max(peak_buffered, state.buffered())
    tracked = rss()
    started = time.monotonic()
    delivered = flush_access()
    say(
        base=base,
        peak=max(peak, rss()),
        tracked=tracked,
        after_flush=rss(),
        flush_s=time.monotonic() - started,
        peak_buffered=peak_buffered,
        buffered_after=state.buffered(),
        delivered=delivered,
        max_buffered=state.max_buffered,
        maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    )


class Commands:
    """Counts the commands every ``redis.Redis`` client of this process sends, from
    any thread: with Redis down, each command is one try to reach it."""

    def __init__(self) -> None:
        self.sent = 0
        self._lock = threading.Lock()
        send: Callable[..., Any] = redis.Redis.execute_command

        def counted(client: redis.Redis, *args: Any, **options: Any) -> Any:
            with self._lock:
                self.sent += 1
            return send(client, *args, **options)

        redis.Redis.execute_command = counted  # type: ignore[method-assign,assignment]


def outage() -> None:
    """Redis up, then down (the test stops it), then up again; one JSON line a step."""
    state = tracker_module._tracker
    errors: list[str] = []
    commands = Commands()

    def flush() -> int:
        try:
            return flush_access()
        except Exception as exc:  # the point: none must reach the application
            errors.append(repr(exc))
            return -1

    def track(key: str) -> None:
        try:
            track_access(key)
        except Exception as exc:
            errors.append(repr(exc))

    for _ in range(10):
        track("before")
    say(phase="up", delivered=flush(), errors=errors)

    sys.stdin.readline()  # the test has stopped Redis
    for i in range(5000):
        track(f"k{i % 300}")
    say(phase="tracked", errors=errors, buffered=state.buffered(), commands=commands.sent)
    delivered = []
    for _ in range(3):
        # One flush a step: the test counts what each one tried on the network.
        sys.stdin.readline()
        delivered.append(flush())
        say(phase="flushed", delivered=delivered[-1], errors=errors, commands=commands.sent)
    say(
        phase="down",
        errors=errors,
        delivered=delivered,
        buffered=state.buffered(),
        pending=len(state.pending),
    )

    sys.stdin.readline()  # the test has started Redis again
    for _ in range(100):
        track("k0")
    say(phase="back", delivered=flush(), buffered=state.buffered(), errors=errors)
    for _ in range(200):
        track("at-exit")  # left for the flush at exit: the top key then


if __name__ == "__main__":
    if sys.argv[1] == "flood":
        flood(int(sys.argv[2]))
    else:
        outage()
