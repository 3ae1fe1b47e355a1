"""Scenarios 8 and 9: access tracking in an application process (a subprocess running
tests/support/tracking_app.py) under a flood of distinct keys and a Redis outage."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import FREQUENCY_KEY, TRACKER_BUFFER_MAX_ACCESSES

from ..helpers import SUPPORT, ServerFactory, process_env, run_module

pytestmark = pytest.mark.faults

APP = str(SUPPORT / "tracking_app.py")
MAX_KEYS = 50_000
MB = 1024 * 1024


def flood(server: RedisProcess, n: int) -> dict[str, Any]:
    server.client().flushdb()
    env = {"WARMING_REDIS_URL": server.url(0), "WARMING_TRACKER_MAX_KEYS": str(MAX_KEYS)}
    done = run_module("tracking_app", "flood", str(n), env=env)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    report["zcard"] = server.client().zcard(FREQUENCY_KEY)
    report["growth"] = report["maxrss"] - report["base"]
    return report


@pytest.mark.timeout(120)
def test_a_flood_of_distinct_keys_keeps_the_buffer_the_set_and_memory_bounded(
    servers: ServerFactory,
) -> None:
    server = servers("tracker")
    small, big, bigger = (flood(server, n) for n in (100_000, 1_000_000, 2_000_000))
    for report, n in ((small, 100_000), (big, 1_000_000), (bigger, 2_000_000)):
        assert report["peak_buffered"] <= TRACKER_BUFFER_MAX_ACCESSES, report
        assert report["buffered_after"] == 0, report
        assert report["delivered"] == min(n, TRACKER_BUFFER_MAX_ACCESSES), report
        assert report["zcard"] == min(n, MAX_KEYS), "the set keeps its bound"
    # Up to the buffer's bound memory grows with the accesses held, no faster...
    assert big["growth"] <= 12 * max(small["growth"], 8 * MB), (small, big)
    # ...and past it, not at all: twice the keys, the same peak.
    assert bigger["growth"] <= 1.15 * big["growth"], (big, bigger)
    print(
        "tracking flood, peak RSS growth: "
        + ", ".join(
            f"{n:,} keys +{r['growth'] / MB:.0f} MB (flush {r['flush_s']:.1f} s)"
            for n, r in ((100_000, small), (1_000_000, big), (2_000_000, bigger))
        )
    )


class App:
    """tracking_app.py in outage mode: one JSON line per phase, stdin between phases."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, APP, "outage"],
            env=process_env({"WARMING_REDIS_URL": url, "WARMING_TRACKER_MAX_KEYS": "100"}),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def report(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the app died: {self.proc.stderr.read() if self.proc.stderr else ''}"
        result: dict[str, Any] = json.loads(line)
        return result

    def go_on(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()


@pytest.mark.timeout(60)
def test_redis_down_during_tracking_raises_nothing_and_counts_arrive_later(
    servers: ServerFactory,
) -> None:
    server = servers("tracker")
    app = App(server.url(0))
    try:
        up = app.report()
        assert (up["delivered"], up["errors"]) == (10, [])
        assert server.client().zscore(FREQUENCY_KEY, "before") == pytest.approx(10, rel=1e-3)

        server.stop(kill=True)
        app.go_on()
        down = app.report()
        assert down["errors"] == [], "no exception reaches the application"
        assert down["delivered"] == [0, 0, 0]
        assert down["flush_s"] < 1.0, "a flush with Redis down does not block the app"
        assert down["track_s"] < 0.5
        assert down["pending"] == 100 == down["buffered"], "held counts stay within bounds"

        server.start()  # same port, empty (no persistence)
        app.go_on()
        back = app.report()
        assert back["errors"] == []
        assert back["delivered"] >= 100
        assert back["buffered"] == 0
        client = server.client()
        assert client.zcard(FREQUENCY_KEY) == 100
        # k0 had 17 reads held through the outage, and 100 more after it.
        assert client.zscore(FREQUENCY_KEY, "k0") == pytest.approx(117, rel=1e-3)

        started = time.monotonic()
        app.proc.stdin.close()  # type: ignore[union-attr]
        assert app.proc.wait(timeout=15) == 0
        assert time.monotonic() - started < 5
        stderr = app.proc.stderr.read()  # type: ignore[union-attr]
        assert "Traceback" not in stderr, stderr
        assert client.zscore(FREQUENCY_KEY, "at-exit") == pytest.approx(200, rel=1e-3)
    finally:
        if app.proc.poll() is None:
            app.proc.kill()
        for stream in (app.proc.stdout, app.proc.stderr, app.proc.stdin):
            if stream is not None:
                stream.close()
        app.proc.wait()
