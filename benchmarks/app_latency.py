"""What the application feels while the suite works in its Redis.

    python -m benchmarks --app-latency [--keys N] [--repeat R]

A separate process plays the application: it reads cached keys with ``GET`` at a
steady rate, each read timed from when it was due (so a stall also delays the reads
queued behind it, as it would a web request). Its latency is taken while Redis is
idle, while one process writes N keys with pipelined ``SET EX`` (the floor: a
client that only writes), during a preload of the same N keys through the workers,
and during a tracker flush of 100,000 keys. The phases alternate their order each
repetition; ratios are paired within one. Redis' own SLOWLOG gives the longest
command each phase sent.

On two cores the reader would otherwise measure the scheduler: the workers, Redis
and the writer take both cores, and a reader that waits for one looks like a
stalled Redis. Where the harness may (as root), the cache Redis and the reader
run first (SCHED_FIFO), as each would on cores of their own in production; the
output says which. (The reader only ever waits on a reply or on its schedule, so
it never holds a core for long.)
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings
from warming_tasks.tracker import AccessTracker

from . import workloads as w
from .figures import spread
from .sources import KEYS_SETTING
from .workers import run_first, worker

READ_RATE = 2000  # the application's reads per second
APP_KEYS = 10_000  # the keys it reads, cached before the phases start
IDLE_S = 3.0
TRACKED = 100_000
SLOWLOG_US = 100  # commands longer than this are logged, to find each phase's longest
PHASES = ("idle", "pipeline", "preload", "flush")


def read_steadily(port: int, rate: int, out: Path) -> None:
    """The application: GET a random cached key every 1/rate s until stdin closes,
    then write ``[[due_at, latency_s], …]`` to ``out`` (time.time clock)."""
    client = redis.Redis(port=port)
    keys = [f"app:{i}" for i in range(APP_KEYS)]
    rng = random.Random(7)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()

    def until_stdin_closes() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=until_stdin_closes, daemon=True).start()
    interval = 1 / rate
    due = time.time()
    while not stop.is_set():
        now = time.time()
        if now < due:
            time.sleep(due - now)
        client.get(rng.choice(keys))
        samples.append((due, time.time() - due))
        due += interval
    out.write_text(json.dumps(samples))


@contextmanager
def application(server: RedisProcess, workdir: Path) -> Iterator[Callable[[], list[Any]]]:
    """The reading process, running; yields a function that stops it and returns its samples."""
    out = workdir / "reads.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.app_latency", "--reader", str(server.port), str(out)],
        stdin=subprocess.PIPE,
    )
    finished: list[Any] = []
    assert server.process is not None
    prioritised = run_first(server.process.pid) and run_first(proc.pid)

    def stop() -> list[Any]:
        if not finished:
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=60)
            finished.extend(json.loads(out.read_text()))
        return finished

    try:
        time.sleep(1.0)  # connected and at its rate
        print(
            "the cache Redis and the reader run first (SCHED_FIFO)"
            if prioritised
            else "the reader and the cache Redis share the cores (not root)",
            file=sys.stderr,
        )
        yield stop
    finally:
        if proc.poll() is None:
            proc.kill()


def percentiles(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return {
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "p999_ms": at(0.999),
        "max_ms": ordered[-1] * 1000,
        "reads": len(ordered),
    }


def longest_command(client: redis.Redis, ignore: tuple[bytes, ...]) -> tuple[int, str]:
    """The longest command in the slow log (µs and its first words), then reset it."""
    rows = [
        (int(e["duration"]), e["command"][:80].decode("utf-8", "replace"))
        for e in client.slowlog_get(10_000)
        if not e["command"].upper().startswith(ignore)
    ]
    client.slowlog_reset()
    return max(rows, default=(0, ""))


def measure(n: int, repeat: int, workdir: Path) -> dict[str, Any]:
    windows: dict[str, list[tuple[float, float]]] = defaultdict(list)
    longest: dict[str, list[tuple[int, str]]] = defaultdict(list)
    own = (b"SLOWLOG", b"UNLINK", b"FLUSHDB", b"CONFIG", b"SET BENCH", b"INFO", b"GET APP")
    with (
        RedisProcess(data_dir=workdir / "redis") as server,
        RedisProcess(data_dir=workdir / "broker") as broker,
        worker(
            server, workdir, CELERY_BROKER_URL=broker.url(1), CELERY_RESULT_BACKEND=broker.url(2)
        ) as app,
    ):
        client = server.client(0)
        client.config_set("slowlog-log-slower-than", SLOWLOG_US)
        client.config_set("slowlog-max-len", 10_000)
        w.preload(app, client, min(n, 10_000))  # warm-up: imports, connections
        pipe = client.pipeline(transaction=False)
        for i in range(APP_KEYS):
            pipe.set(f"app:{i}", "x" * 100)
        pipe.execute()
        settings = load_settings(redis_url=server.url(0))

        def idle() -> None:
            time.sleep(IDLE_S)

        def pipeline() -> None:
            w.pipeline(client, n)

        def preload() -> None:
            client.set(KEYS_SETTING, n)
            _, summary = w.run_task(app, "preload")
            if summary["loaded"] != n:
                raise RuntimeError(f"preload loaded {summary['loaded']} of {n}")

        def flush() -> None:
            tracker = AccessTracker(settings)
            for i in range(TRACKED):
                tracker.track(f"tracked:{i}")
            if tracker.flush() != TRACKED:
                raise RuntimeError("the flush did not deliver every key")

        phases: dict[str, Callable[[], None]] = {
            "idle": idle,
            "pipeline": pipeline,
            "preload": preload,
            "flush": flush,
        }
        with application(server, workdir) as stop:
            for rep in range(repeat):
                print(f"repetition {rep + 1}/{repeat} …", file=sys.stderr, flush=True)
                order = list(PHASES) if rep % 2 == 0 else list(reversed(PHASES))
                for name in order:
                    w.clear_cache(client, n)
                    client.delete("{warming}:freq", "{warming}:epoch")
                    client.slowlog_reset()
                    started = time.time()
                    phases[name]()
                    windows[f"{name}:{rep}"].append((started, time.time()))
                    longest[name].append(longest_command(client, own))
            samples = stop()
    return {"app_latency_keys": n, "app_latency_repeat": repeat} | report(
        samples, windows, longest, repeat
    )


def report(
    samples: list[Any],
    windows: dict[str, list[tuple[float, float]]],
    longest: dict[str, list[tuple[int, str]]],
    repeat: int,
) -> dict[str, Any]:
    per_rep: dict[str, list[dict[str, float]]] = defaultdict(list)
    for rep in range(repeat):
        for name in PHASES:
            (start, end), *_ = windows[f"{name}:{rep}"]
            inside = [lat for due, lat in samples if start <= due <= end]
            per_rep[name].append(percentiles(inside))
    table = {
        name: {
            stat: spread([r[stat] for r in rows])
            for stat in ("p50_ms", "p99_ms", "p999_ms", "max_ms")
        }
        for name, rows in per_rep.items()
    }
    vs_pipeline = [
        p["p999_ms"] / q["p999_ms"]
        for p, q in zip(per_rep["preload"], per_rep["pipeline"], strict=True)
    ]
    vs_idle = [
        p["p999_ms"] / q["p999_ms"] for p, q in zip(per_rep["flush"], per_rep["idle"], strict=True)
    ]
    return {
        "app_read_rate": READ_RATE,
        "app_latency_ms": table,
        "app_p999_during_preload_vs_pipeline": statistics.median(vs_pipeline),
        "app_p999_during_preload_vs_pipeline_range": spread(vs_pipeline) | {"target": "<= 1.5"},
        "app_p999_during_flush_vs_idle": statistics.median(vs_idle),
        "app_p999_during_flush_vs_idle_range": spread(vs_idle) | {"target": "report"},
        "longest_command_us": {
            name: spread([float(us) for us, _ in rows]) for name, rows in longest.items()
        },
        "longest_command": {name: max(rows)[1] for name, rows in longest.items()},
    }


def print_report(result: dict[str, Any]) -> None:
    print(
        f"the application's GET latency (ms) at {result['app_read_rate']} reads/s, "
        f"{result['app_latency_keys']:,} keys, {result['app_latency_repeat']} repetitions: "
        "median (min-max) of each repetition's figure"
    )
    print(f"{'phase':10} {'p50':>20} {'p99':>20} {'p99.9':>20} {'max':>20} {'longest cmd µs':>22}")
    for name in PHASES:
        row = result["app_latency_ms"][name]
        cells = [
            f"{row[s]['median']:.3f} ({row[s]['min']:.2f}-{row[s]['max']:.2f})"
            for s in ("p50_ms", "p99_ms", "p999_ms", "max_ms")
        ]
        lc = result["longest_command_us"][name]
        cells.append(f"{lc['median']:.0f} ({lc['min']:.0f}-{lc['max']:.0f})")
        print(f"{name:10} " + " ".join(f"{c:>20}" for c in cells))
    for key in ("app_p999_during_preload_vs_pipeline", "app_p999_during_flush_vs_idle"):
        r = result[f"{key}_range"]
        print(f"{key:40} {r['median']:.2f} ({r['min']:.2f}-{r['max']:.2f})  target {r['target']}")
    for name, text in result["longest_command"].items():
        print(f"  longest in {name}: {text}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reader", nargs=2, metavar=("PORT", "OUT"))
    args = parser.parse_args()
    read_steadily(int(args.reader[0]), READ_RATE, Path(args.reader[1]))


if __name__ == "__main__":
    main()
