"""An application process that tracks accesses, for the fault suite (tests/faults).

``python tracking_app.py flood N``: track N distinct keys as fast as it can, then
flush; print one JSON line with RSS measurements and the tracker's counts.

``python tracking_app.py outage``: track and flush with the cache Redis up, then
down, then up again, printing one JSON line a phase and reading one line on stdin
between phases (the test stops or starts Redis meanwhile); the flush at exit
delivers what was tracked last.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from typing import Any

import psutil

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


def outage() -> None:
    """Redis up, then down (the test stops it), then up again; one JSON line a phase."""
    state = tracker_module._tracker
    errors: list[str] = []

    def flush() -> tuple[int, float]:
        t0 = time.monotonic()
        try:
            return flush_access(), time.monotonic() - t0
        except Exception as exc:  # the point: none must reach the application
            errors.append(repr(exc))
            return -1, time.monotonic() - t0

    def track(key: str) -> None:
        try:
            track_access(key)
        except Exception as exc:
            errors.append(repr(exc))

    for _ in range(10):
        track("before")
    delivered, _ = flush()
    say(phase="up", delivered=delivered, errors=errors)

    sys.stdin.readline()  # the test has stopped Redis
    t0 = time.monotonic()
    for i in range(5000):
        track(f"k{i % 300}")
    track_s = time.monotonic() - t0
    flushes = [flush() for _ in range(3)]
    say(
        phase="down",
        errors=errors,
        track_s=track_s,
        delivered=[d for d, _ in flushes],
        flush_s=max(s for _, s in flushes),
        buffered=state.buffered(),
        pending=len(state.pending),
    )

    sys.stdin.readline()  # the test has started Redis again
    for _ in range(100):
        track("k0")
    delivered, _ = flush()
    say(phase="back", delivered=delivered, buffered=state.buffered(), errors=errors)
    for _ in range(200):
        track("at-exit")  # left for the flush at exit: the top key then


if __name__ == "__main__":
    if sys.argv[1] == "flood":
        flood(int(sys.argv[2]))
    else:
        outage()
