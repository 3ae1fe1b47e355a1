"""Access tracking in an application process (a subprocess running
tests/support/tracking_app.py) under a flood of distinct keys and a Redis outage."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from typing import Any

import pytest

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import FLUSH_IN_FLIGHT, FREQUENCY_KEY, TRACKER_BUFFER_MAX_ACCESSES

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
    """100,000, 1,000,000 and 2,000,000 distinct keys tracked in an application process:
    the buffer and the frequency set stay within their bounds, and memory grows with the
    accesses held up to the buffer's bound, not past it."""
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
    """tracking_app.py in outage mode: one JSON line per step, stdin between steps."""

    def __init__(self, url: str) -> None:
        env = {
            "WARMING_REDIS_URL": url,
            "WARMING_TRACKER_MAX_KEYS": "100",
            # No background flush in the test's time: every flush is one the test
            # asked for, so the connection attempts counted are theirs.
            "WARMING_FLUSH_INTERVAL": "3600",
        }
        self.proc = subprocess.Popen(
            [sys.executable, APP, "outage"],
            env=process_env(env),
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

    def step(self) -> dict[str, Any]:
        self.go_on()
        return self.report()


class Doorman:
    """A listener on a dead Redis' port that accepts each connection and closes it
    at once, counting them: every attempt the application makes to reach Redis,
    where a closed port would leave none to count."""

    def __init__(self, port: int) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.server.settimeout(0.05)  # so that close() is seen between accepts
        self.attempts = 0
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            # Counted before the close: the client sees its connection fail only
            # after the count has moved.
            self.attempts += 1
            conn.close()

    def close(self) -> None:
        self._closing.set()
        self._thread.join(timeout=5)
        self.server.close()


@pytest.mark.timeout(60)
def test_redis_down_during_tracking_raises_nothing_and_counts_arrive_later(
    servers: ServerFactory,
) -> None:
    """Redis is killed while the application tracks reads: no exception reaches it,
    tracking opens no connection, each flush tries once per command and stops at the
    first failure, and the counts held stay bounded. Once Redis is back the held counts
    arrive, and the flush at exit delivers the rest."""
    server = servers("tracker")
    app = App(server.url(0))
    try:
        up = app.report()
        assert (up["delivered"], up["errors"]) == (10, [])
        assert server.client().zscore(FREQUENCY_KEY, "before") == pytest.approx(10, rel=1e-3)

        server.stop(kill=True)
        door = Doorman(server.port)
        try:
            tracked = app.step()
            assert tracked["errors"] == [], "no exception reaches the application"
            assert door.attempts == 0, "tracking never touches the network"
            sent = tracked["commands"]
            for _ in range(3):
                tried = door.attempts
                flushed = app.step()
                assert flushed["errors"] == [], "no exception reaches the application"
                assert flushed["delivered"] == 0
                # A flush with Redis down cannot block the app: each command it
                # sends tries to connect once (no retry, no backoff), and it stops
                # at the first failure, so only the calls already in flight try
                # (how many had started varies: 2 to 4 seen here).
                commands, sent = flushed["commands"] - sent, flushed["commands"]
                assert door.attempts - tried == commands, "one try a command"
                assert 1 <= commands <= FLUSH_IN_FLIGHT, commands
            down = app.report()
        finally:
            door.close()
        assert down["delivered"] == [0, 0, 0]
        assert down["pending"] == 100 == down["buffered"], "held counts stay within bounds"

        server.start()  # same port, empty (no persistence)
        back = app.step()
        assert back["errors"] == []
        # The 100 heaviest keys held (k0..k99, 17 reads each: 5000 reads over
        # k0..k299) and 100 reads of k0 since; the reads of the keys dropped to
        # keep the bound never reached Redis and are not counted.
        assert back["delivered"] == 100 * 17 + 100
        assert back["buffered"] == 0
        client = server.client()
        assert client.zcard(FREQUENCY_KEY) == 100
        # k0 had 17 reads held through the outage, and 100 more after it.
        assert client.zscore(FREQUENCY_KEY, "k0") == pytest.approx(117, rel=1e-3)

        app.proc.stdin.close()  # type: ignore[union-attr]
        assert app.proc.wait(timeout=15) == 0
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
