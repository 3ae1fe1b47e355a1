"""Wall time of a preload through real workers, enqueue to summary.

    python -m benchmarks.preload_wall --keys 100000 --concurrency 2 --repeat 5

Starts its own redis-server and worker; prints each run and the median.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from celery import Celery

from warming_tasks.app import DEFAULTS
from warming_tasks.embedded import RedisProcess

ROOT = Path(__file__).resolve().parent.parent


def start_worker(
    server: RedisProcess, keys: int, concurrency: int, log: Path
) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        WARMING_REDIS_URL=server.url(0),
        CELERY_BROKER_URL=server.url(1),
        CELERY_RESULT_BACKEND=server.url(2),
        WARMING_SOURCE="benchmarks.sources:InstantSource",
        BENCH_KEYS=str(keys),
        PYTHONPATH=str(ROOT),
    )
    out = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "warming_tasks",
            "worker",
            "-c",
            str(concurrency),
            "-l",
            "warning",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"bench{time.time_ns()}@%h",
        ],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=tempfile.gettempdir(),
    )
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with RedisProcess() as server, tempfile.TemporaryDirectory() as tmp:
        worker = start_worker(server, args.keys, args.concurrency, Path(tmp) / "worker.log")
        app = Celery("bench", set_as_current=False)
        app.conf.update(DEFAULTS, broker_url=server.url(1), result_backend=server.url(2))
        try:
            app.control.ping(timeout=10)
            times = []
            for i in range(args.repeat + 1):  # the first run warms up
                server.client(0).flushdb()
                started = time.perf_counter()
                summary = app.send_task("warming_tasks.preload").get(timeout=600)
                elapsed = time.perf_counter() - started
                assert summary["loaded"] == args.keys, summary
                if i:
                    times.append(elapsed)
                print(
                    f"run {i}{' (warm-up)' if not i else ''}: {elapsed:.3f} s, "
                    f"{args.keys / elapsed:,.0f} keys/s, batches={summary['batches']}"
                )
            med = statistics.median(times)
            print(
                f"median {med:.3f} s (min {min(times):.3f}, max {max(times):.3f}) "
                f"= {args.keys / med:,.0f} keys/s with -c {args.concurrency}"
            )
        finally:
            worker.terminate()
            worker.wait(30)
            app.close()


if __name__ == "__main__":
    main()
