"""What a counted miss costs: ``warming-tasks listen``'s CPU, and the cache Redis' extra
CPU, per key-miss notification.

    python -m benchmarks.listen                    # 200,000 misses, 3 repetitions
    python -m benchmarks.listen --misses 50000 --repetitions 5

``redis-benchmark`` (a plain client, no Python in front) sends ``GET``s of absent keys
(``--keys`` distinct ones, pipelined) to a redis-server of its own, in three settings
taken in turn within each repetition: notifications off, on with no subscriber, and on
with a real ``warming-tasks listen`` subscribed (checkpoints every second). Redis' CPU
comes from ``INFO cpu`` (user + sys) before and after the ``GET``s, and, with the
listener, until it has counted every miss (so its flushes into the frequency set are in
the figure); the listener's from ``/proc`` through psutil over the same span.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import redis

from warming_tasks.cli.embedded import RedisProcess

from .figures import spread
from .results import save

REPO = Path(__file__).resolve().parent.parent
NOTIFY = "notify-keyspace-events"
SETTINGS = ("off", "on, no subscriber", "on, listen subscribed")


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def misses(server: RedisProcess, n: int, keys: int) -> float:
    """``n`` pipelined GETs of absent keys by redis-benchmark; the seconds they took."""
    started = time.perf_counter()
    subprocess.run(
        [
            *("redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port)),
            *("-n", str(n), "-r", str(keys), "-t", "get", "-P", "32", "-c", "2", "-q"),
        ],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return time.perf_counter() - started


def counted(client: redis.Redis) -> int:
    return int(client.hget("{warming}:listen", "counted") or 0)


def start_listen(server: RedisProcess, workdir: Path) -> subprocess.Popen[bytes]:
    env = {
        "WARMING_REDIS_URL": server.url(0),
        "WARMING_FLUSH_INTERVAL": "1",
        "PATH": "/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
    }
    log = (workdir / "listen.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "warming_tasks", "listen"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while "listening for key misses" not in (workdir / "listen.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((workdir / "listen.log").read_text())
        time.sleep(0.1)
    return proc


@dataclass(frozen=True)
class Bench:
    """The server measured, a client of it, and where the listener logs."""

    server: RedisProcess
    client: redis.Redis
    workdir: Path


def one_setting(bench: Bench, setting: str, n: int, keys: int) -> dict[str, float]:
    server, client, workdir = bench.server, bench.client, bench.workdir
    client.flushdb()
    client.config_set(NOTIFY, "" if setting == SETTINGS[0] else "Em")
    listen = start_listen(server, workdir) if setting == SETTINGS[2] else None
    try:
        time.sleep(0.5)  # the listener's start settles
        start_count = counted(client)
        listener = psutil.Process(listen.pid) if listen else None
        listen_before = sum(listener.cpu_times()[:2]) if listener else 0.0
        before = redis_cpu_s(client)
        took_s = misses(server, n, keys)
        drained_s = took_s
        if listen is not None:
            started = time.perf_counter() - took_s
            while counted(client) - start_count < n:
                time.sleep(0.05)
            drained_s = time.perf_counter() - started
        redis_s = redis_cpu_s(client) - before
        listen_s = sum(listener.cpu_times()[:2]) - listen_before if listener else 0.0
    finally:
        if listen is not None:
            listen.terminate()
            listen.wait(timeout=30)
    return {
        "redis_cpu_us_per_get": redis_s / n * 1e6,
        "listen_cpu_us_per_miss": listen_s / n * 1e6,
        "gets_per_s": n / took_s,
        "counted_per_s": n / drained_s,
    }


def measure(n: int, keys: int, repetitions: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, float]]] = {s: [] for s in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp, RedisProcess(data_dir=Path(tmp) / "r") as server:
        client = server.client(0)
        bench = Bench(server, client, Path(tmp))
        for rep in range(repetitions):
            order = SETTINGS if rep % 2 == 0 else SETTINGS[::-1]
            for setting in order:
                runs[setting].append(one_setting(bench, setting, n, keys))
                print(setting, json.dumps(runs[setting][-1]), file=sys.stderr)
        client.close()

    def figure(setting: str, name: str) -> dict[str, float]:
        return spread([run[name] for run in runs[setting]])

    off, quiet, heard = SETTINGS
    # Paired within each repetition: what notifications add to the same GETs.
    extra_publish = [
        b["redis_cpu_us_per_get"] - a["redis_cpu_us_per_get"]
        for a, b in zip(runs[off], runs[quiet], strict=True)
    ]
    extra_listened = [
        b["redis_cpu_us_per_get"] - a["redis_cpu_us_per_get"]
        for a, b in zip(runs[off], runs[heard], strict=True)
    ]
    return {
        "misses": n,
        "distinct_keys": keys,
        "repetitions": repetitions,
        "redis_cpu_us_per_get": {s: figure(s, "redis_cpu_us_per_get") for s in SETTINGS},
        "redis_extra_cpu_us_per_miss": {
            "notifications on, no subscriber": spread(extra_publish),
            "listen subscribed (delivery and its flushes)": spread(extra_listened),
        },
        "listen_cpu_us_per_miss": figure(heard, "listen_cpu_us_per_miss"),
        "gets_per_s": {s: figure(s, "gets_per_s") for s in SETTINGS},
        "listen_counted_per_s": figure(heard, "counted_per_s"),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", type=int, default=200_000)
    parser.add_argument("--keys", type=int, default=10_000, help="distinct absent keys")
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()
    result = measure(args.misses, args.keys, args.repetitions)
    shown = {k: v for k, v in result.items() if k != "runs"}
    print(json.dumps(shown, indent=2))
    print(f"written to {save(result, f'listen-{args.misses}')}")


if __name__ == "__main__":
    main()
