"""A warm of one key end to end against a preload of one key, through a real
worker (``-c 2``) on a Redis of the harness's own.

    python -m benchmarks.warm              # 100 of each, alternating

A warm is ``warming_tasks.warm(["bench:i"])``: it marks the key as asked for,
enqueues ``warm_keys``, and the worker loads and writes it; the time is from the
call to the summary (the result backend answers by pub/sub, as soon as the task
returns). A preload of one key is the run machinery for the same work: the entry
task, one batch, the run's body. The source answers at once, so the figures are
warming-tasks' own.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from warming_tasks import runtime, warm
from warming_tasks.cli.embedded import RedisProcess

from .results import save
from .sources import KEYS_SETTING, bench_key
from .workers import worker

CALLS = 100


def _spread(values: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values]
    return {"median": statistics.median(ms), "min": min(ms), "max": max(ms)}


def measure(calls: int, workdir: Path) -> dict[str, Any]:
    warms: list[float] = []
    preloads: list[float] = []
    with RedisProcess(data_dir=workdir / "redis") as server, worker(server, workdir) as app:
        client = server.client(0)
        client.set(KEYS_SETTING, 1)  # the preload's source: one hot key
        os.environ["WARMING_REDIS_URL"] = server.url(0)  # where warm() marks its keys
        runtime.reset()
        for i in range(-4, calls):  # four of each first, not counted: imports, pools
            for which in ("warm", "preload") if i % 2 else ("preload", "warm"):
                client.delete(bench_key(0), bench_key(i + 10))
                started = time.perf_counter()
                if which == "warm":
                    summary = warm([bench_key(i + 10)], app=app).get(timeout=60)
                else:
                    summary = app.send_task("warming_tasks.preload").get(timeout=60)
                took = time.perf_counter() - started
                if summary["loaded"] != 1:
                    raise RuntimeError(f"the {which} loaded {summary['loaded']} keys, not 1")
                if i >= 0:
                    (warms if which == "warm" else preloads).append(took)
        client.close()
    return {
        "calls": calls,
        "warm_1_key_ms": _spread(warms),
        "preload_1_key_ms": _spread(preloads),
        "warm_vs_preload_1_key": statistics.median(preloads) / statistics.median(warms),
    }


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="warming-bench-") as tmp:
        result = measure(CALLS, Path(tmp))
    written = save(result, "warm-1-key", None)
    for name in ("warm_1_key_ms", "preload_1_key_ms"):
        s = result[name]
        print(f"{name:18} median {s['median']:7.2f}  min {s['min']:7.2f}  max {s['max']:7.2f}")
    print(f"preload / warm (medians): {result['warm_vs_preload_1_key']:.2f}")
    print(f"\nwritten to {written}")


if __name__ == "__main__":
    main()
