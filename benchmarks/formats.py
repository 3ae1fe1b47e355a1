"""What a framework format costs, and what counting reads in the framework costs.

    python -m benchmarks.formats                 # 200,000 keys, 5 rounds
    python -m benchmarks.formats --keys 1000000 --repeat 3

Preload throughput with ~100-byte dict values under ``raw`` (the source writes
the JSON text itself), ``django`` (Django's RedisCache: pickle) and ``cachelib``
(Flask-Caching: pickle): one redis-server, a worker (-c 2) per format on brokers
of their own, each round runs every format in turn (the order rotates). Then the
cost of a read through ``warming_tasks.django.TrackingRedisCache`` and
``warming_tasks.flask.TrackingRedisCache`` against the plain backends, in ns per
``cache.get`` of a cached key. Medians (min-max); benchmarks/results/<date>-formats-<keys>.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from warming_tasks import tracker
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings

from . import workloads as w
from .figures import spread
from .results import save
from .sources import KEYS_SETTING
from .workers import ROOT, worker

FORMATS: dict[str, dict[str, str]] = {
    "raw": {"BENCH_VALUES": "json"},
    "django": {"WARMING_FORMAT": "django", "DJANGO_SETTINGS_MODULE": "benchmarks.django_settings"},
    "cachelib": {"WARMING_FORMAT": "cachelib", "WARMING_KEY_PREFIX": "flask_cache_"},
}
READS = 20_000  # gets per backend per round


def preload_rounds(n: int, repeat: int, tmp: Path) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = defaultdict(list)
    with RedisProcess(data_dir=tmp / "redis") as server:
        client = server.client(0)
        source = {"WARMING_SOURCE": "benchmarks.sources:ObjectSource"}
        apps = {}
        try:
            for db, (name, env) in enumerate(FORMATS.items(), start=3):
                ctx = worker(server, tmp, 2, db, ROOT, **(source | env))
                apps[name] = (ctx, ctx.__enter__())
            for _, app in apps.values():
                client.set(KEYS_SETTING, min(n, 10_000))
                w.run_task(app, "preload")  # warm-up: imports, connections, scripts
            names = list(FORMATS)
            for rep in range(repeat):
                print(f"round {rep + 1}/{repeat} …", file=sys.stderr, flush=True)
                for name in names[rep % 3 :] + names[: rep % 3]:
                    client.flushdb()
                    client.set(KEYS_SETTING, n)
                    seconds, summary = w.run_task(apps[name][1], "preload")
                    if summary["loaded"] != n:
                        raise RuntimeError(f"{name}: loaded {summary['loaded']} of {n}")
                    figures[f"preload_{name}_keys_per_s"].append(n / seconds)
        finally:
            for ctx, _ in apps.values():
                ctx.__exit__(None, None, None)
    return figures


def _ns_per_get(cache: Any, key: str) -> float:
    get = cache.get
    started = time.perf_counter_ns()
    for _ in range(READS):
        get(key)
    return (time.perf_counter_ns() - started) / READS


def _ns_per_track(calls: int = 500_000) -> float:
    """What a tracking backend adds to a read: one track_access with its hit."""
    track = tracker.track_access
    started = time.perf_counter_ns()
    for _ in range(calls):
        track("product:1", hit=True)
    return (time.perf_counter_ns() - started) / calls


def tracking_rounds(repeat: int, tmp: Path) -> dict[str, list[float]]:
    """ns per get: the plain backends and the tracking ones, interleaved."""
    import django  # noqa: PLC0415 - only this part of the harness is an application
    from django.conf import settings  # noqa: PLC0415
    from django.core.cache import caches  # noqa: PLC0415
    from flask import Flask  # noqa: PLC0415
    from flask_caching import Cache  # noqa: PLC0415

    figures: dict[str, list[float]] = defaultdict(list)
    with RedisProcess(data_dir=tmp / "reads") as server:
        url = server.url(0)
        backend = "django.core.cache.backends.redis.RedisCache"
        settings.configure(
            CACHES={
                "plain": {"BACKEND": backend, "LOCATION": url},
                "tracking": {"BACKEND": "warming_tasks.django.TrackingRedisCache", "LOCATION": url},
            }
        )
        django.setup()
        tracker.reset(load_settings(redis_url=url, flush_interval=3600))
        app = Flask("bench")
        flask_plain = Cache(app, config={"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url})
        flask_tracking = Cache(
            app,
            config={"CACHE_TYPE": "warming_tasks.flask.TrackingRedisCache", "CACHE_REDIS_URL": url},
        )
        with app.app_context():
            sides = {
                "django_plain": caches["plain"],
                "django_tracking": caches["tracking"],
                "flask_plain": flask_plain,
                "flask_tracking": flask_tracking,
            }
            caches["plain"].set("product:1", {"id": 1}, 3600)
            flask_plain.set("product:1", {"id": 1}, 3600)
            for cache in sides.values():
                _ns_per_get(cache, "product:1")  # warm-up: connections
            for _ in range(repeat):
                for name, cache in sides.items():
                    figures[f"get_{name}_ns"].append(_ns_per_get(cache, "product:1"))
                tracker.flush_access()
                figures["track_access_hit_ns"].append(_ns_per_track())
                tracker.flush_access()
        tracker.reset()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    with tempfile.TemporaryDirectory(prefix="warming-formats-") as tmp:
        figures = preload_rounds(args.keys, args.repeat, Path(tmp))
        figures |= tracking_rounds(args.repeat, Path(tmp))
    ratios = {
        f"preload_{name}_vs_raw": [
            a / b
            for a, b in zip(
                figures[f"preload_{name}_keys_per_s"],
                figures["preload_raw_keys_per_s"],
                strict=True,
            )
        ]
        for name in ("django", "cachelib")
    }
    for fw in ("django", "flask"):
        ratios[f"get_{fw}_tracking_overhead_ns"] = [
            t - p
            for t, p in zip(
                figures[f"get_{fw}_tracking_ns"], figures[f"get_{fw}_plain_ns"], strict=True
            )
        ]
    result = {
        "keys": args.keys,
        "repeat": args.repeat,
        "figures": {k: spread(v) for k, v in figures.items()},
        "ratios": {k: spread(v) for k, v in ratios.items()},
    }
    print(f"written to {save(result, f'formats-{args.keys}')}")
    for section in ("figures", "ratios"):
        for name, s in result[section].items():
            print(f"{name:40} {s['median']:12,.2f}  ({s['min']:,.2f}-{s['max']:,.2f})")


if __name__ == "__main__":
    main()
