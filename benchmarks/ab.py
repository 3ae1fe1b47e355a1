"""This checkout against another, in one run: preload and refresh throughput, the
cache Redis' CPU per key, and the tracker's flush.

    python -m benchmarks.ab --before ../old-checkout            # 200,000 keys, 5 rounds
    python -m benchmarks.ab --before ../old-checkout --keys 1000000 --repeat 3

One cache redis-server (running first where the harness may, see
``workers.run_first``); a worker (-c 2) from each checkout, each on a broker
redis-server of its own (so the cache's CPU is the warming's alone), both up
throughout. Each round measures the shared floors once (one process writing N
keys with pipelined ``SET EX``, and bare pipelined ``ZINCRBY`` of 100,000 keys),
then on each side (the order alternates, so the machine's drift hits both alike) a
preload with the cache's CPU per key, a refresh, and a flush of 100,000 keys by
that checkout's tracker. It prints medians (min-max) of each figure, of each
side's ratios to the floors, and of the after/before ratios, all paired within a
round, and writes benchmarks/results/<date>-ab-<keys>.json.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections import defaultdict
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import FREQUENCY_KEY

from . import workloads as w
from .figures import spread
from .results import save
from .sources import KEYS_SETTING
from .workers import ROOT, bench_env, run_first, worker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout's root")
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=4, help="even: each side first as often")
    args = parser.parse_args()
    if args.repeat < 2 or args.repeat % 2:
        parser.error("--repeat must be even: each side goes first as often")
    before = args.before.resolve()
    if not (before / "warming_tasks").is_dir():
        raise SystemExit(f"--before={before} is not a warming-tasks checkout")
    n = args.keys
    figures: dict[str, list[float]] = defaultdict(list)
    with (
        tempfile.TemporaryDirectory(prefix="warming-ab-") as tmp,
        RedisProcess(data_dir=Path(tmp) / "redis") as server,
        RedisProcess(data_dir=Path(tmp) / "broker-before") as old_broker,
        RedisProcess(data_dir=Path(tmp) / "broker-after") as new_broker,
        side_worker(server, Path(tmp), old_broker, before, 1) as old,
        side_worker(server, Path(tmp), new_broker, ROOT, 3) as new,
    ):
        assert server.process is not None
        if not run_first(server.process.pid):
            print("not root: the cache Redis shares the cores (its slow log says less)")
        client = server.client(0)
        client.config_set("slowlog-log-slower-than", 100)
        client.config_set("slowlog-max-len", 10_000)
        sides = {"before": (old, before), "after": (new, ROOT)}
        for app, root in sides.values():
            w.preload(app, client, min(n, 10_000))  # warm-up: imports, connections, scripts
            flush_s(server, root)
        for rep in range(args.repeat):
            print(f"round {rep + 1}/{args.repeat} …", file=sys.stderr, flush=True)
            client.flushdb()
            cpu = w.cpu_s(client)
            figures["pipeline_keys_per_s"].append(n / w.pipeline(client, n))
            figures["set_redis_cpu_us_per_key"].append((w.cpu_s(client) - cpu) / n * 1e6)
            figures["zincrby_100k_s"].append(w.zincrby_seconds(server))
            order = list(sides) if rep % 2 == 0 else list(reversed(sides))
            for side in order:
                app, root = sides[side]
                side_round(side, app, root, server, n, figures)
    result = report(n, args.repeat, before, figures)
    print(f"written to {save(result, f'ab-{n}')}")
    for section in ("figures", "ratios"):
        for name, s in result[section].items():
            print(f"{name:44} {s['median']:12,.2f}  ({s['min']:,.2f}-{s['max']:,.2f})")


def side_worker(
    server: RedisProcess, workdir: Path, broker: RedisProcess, root: Path, number: int
) -> AbstractContextManager[Celery]:
    """A worker of the checkout at ``root`` on the cache, with a broker of its own
    (``number`` names its log)."""
    return worker(
        server,
        workdir,
        broker_db=number,
        root=root,
        CELERY_BROKER_URL=broker.url(1),
        CELERY_RESULT_BACKEND=broker.url(2),
    )


# A flush of 100,000 new keys by the tracker of the checkout the process imports.
_FLUSH = """
import sys, time
from warming_tasks.settings import load_settings
from warming_tasks.tracker import AccessTracker
tracker = AccessTracker(load_settings(redis_url=sys.argv[1], tracker_max_keys=200_000))
for i in range(100_000):
    tracker.track(f"flush:{i}")
started = time.perf_counter()
delivered = tracker.flush()
print(time.perf_counter() - started, delivered)
"""


def side_round(  # noqa: PLR0913, PLR0917 - one side's round and where it goes
    side: str,
    app: Celery,
    root: Path,
    server: RedisProcess,
    n: int,
    figures: dict[str, list[float]],
) -> None:
    """One round on one side: preload (keys/s, the cache's CPU per key), refresh,
    predictive, flush, each with the longest command it sent."""
    client = server.client(0)
    client.flushdb()
    client.set(KEYS_SETTING, n)
    client.slowlog_reset()
    w.timed_preload(app, client, n, f"{side}_preload", figures)
    figures[f"{side}_preload_longest_us"].append(longest_us(client))
    w.prepare_refresh(client, n)
    client.slowlog_reset()
    figures[f"{side}_refresh_keys_per_s"].append(n / w.refresh(app, client, n)[0])
    figures[f"{side}_refresh_longest_us"].append(longest_us(client))
    w.prepare_ranking(client, members=100_000)
    w.clear_cache(client, 10_000)
    client.slowlog_reset()
    figures[f"{side}_predictive_s"].append(w.run_task(app, "predictive_load", limit=10_000)[0])
    figures[f"{side}_predictive_longest_us"].append(longest_us(client))
    client.delete(FREQUENCY_KEY)
    client.slowlog_reset()
    figures[f"{side}_flush_100k_s"].append(flush_s(server, root))
    figures[f"{side}_flush_longest_us"].append(longest_us(client))
    client.close()


# The harness' own commands; everything else in the slow log is the suite's.
_HARNESS = (b"FLUSHDB", b"UNLINK", b"DEL", b"KEYS", b"SLOWLOG", b"CONFIG", b"INFO", b"ZADD bench")


def longest_us(client: redis.Redis) -> float:
    """The longest command the suite sent since the slow log was reset (µs; 0: none
    over 100 µs)."""
    rows: list[dict[str, Any]] = client.slowlog_get(10_000)
    return float(
        max(
            (e["duration"] for e in rows if not e["command"].upper().startswith(_HARNESS)),
            default=0,
        )
    )


def flush_s(server: RedisProcess, root: Path) -> float:
    """Seconds the tracker of the checkout at ``root`` takes to flush 100,000 keys."""
    env = bench_env(server, root=root)
    done = subprocess.run(
        [sys.executable, "-c", _FLUSH, server.url(0)],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    seconds, delivered = done.stdout.split()
    if int(delivered) != 100_000:
        raise RuntimeError(f"the flush delivered {delivered} of 100,000 keys")
    client = server.client(0)
    client.delete(*client.keys("{warming}:*"))  # the set, its epoch, auto's state and samples
    return float(seconds)


def report(n: int, repeat: int, before: Path, figures: dict[str, list[float]]) -> dict[str, Any]:
    """Each side's ratios to the shared floors, then after against before, per round."""

    def ratio(top: list[float], bottom: list[float]) -> list[float]:
        return [a / b for a, b in zip(top, bottom, strict=True)]

    ratios: dict[str, list[float]] = {}
    for side in ("before", "after"):
        ratios[f"{side}_preload_vs_pipeline"] = ratio(
            figures[f"{side}_preload_keys_per_s"], figures["pipeline_keys_per_s"]
        )
        ratios[f"{side}_redis_cpu_per_key_vs_set"] = ratio(
            figures[f"{side}_preload_redis_cpu_us_per_key"], figures["set_redis_cpu_us_per_key"]
        )
        ratios[f"{side}_flush_vs_zincrby"] = ratio(
            figures[f"{side}_flush_100k_s"], figures["zincrby_100k_s"]
        )
    for name in ("preload_keys_per_s", "refresh_keys_per_s", "flush_100k_s"):
        ratios[f"{name}_after_vs_before"] = ratio(
            figures[f"after_{name}"], figures[f"before_{name}"]
        )
    return {
        "keys": n,
        "repeat": repeat,
        "before": str(before),
        "figures": {k: spread(v) for k, v in figures.items()},
        "ratios": {k: spread(v) for k, v in ratios.items()},
    }


if __name__ == "__main__":
    main()
