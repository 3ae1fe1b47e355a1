"""``warming-tasks copy --all`` through a real worker (``-c 2``) against the
one-process script a user would write for the same job: SCAN the other server a
page of 1,000 keys at a time, pipeline ``DUMP`` and ``PTTL`` of the page, pipeline
``RESTORE`` of each key with the TTL it had left into the cache.

    python -m benchmarks.copy                 # 100,000 keys of 200 bytes, 4 repetitions
    python -m benchmarks.copy --keys 20000 --repeat 2
    python -m benchmarks.copy --concurrency 1 # one worker process against one script

Three servers of the harness's own: the other server (the keys, each with a TTL),
the cache, and the broker and result backend (so the cache Redis serves the copy
alone, as the script's does). Both sides start from an empty cache; the side that
goes first alternates from one repetition to the next, and the copy is timed from
sending the task to its summary (listing, the probe of the dump format, fan-out
and counting included). Prints medians (min-max) of both and of their ratio,
paired within a repetition, and stores them in
``benchmarks/results/<date>-copy-<keys>.json``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import redis

from warming_tasks.cli.embedded import RedisProcess

from .figures import spread
from .results import save
from .workers import run_first, worker

PAGE = 1000
VALUE_BYTES = 200
TTL_S = 3600


def fill(client: redis.Redis, keys: int) -> None:
    """``copy:0`` … ``copy:<keys-1>``, 200-byte values, TTLs of about an hour."""
    value = b"v" * VALUE_BYTES
    for first in range(0, keys, PAGE):
        pipe = client.pipeline(transaction=False)
        for i in range(first, min(first + PAGE, keys)):
            pipe.set(f"copy:{i}", value, ex=TTL_S + i % 600)
        pipe.execute()


def script_s(other: redis.Redis, cache: redis.Redis) -> float:
    """The one-process DUMP/RESTORE pipeline over every key: its seconds."""
    started = time.perf_counter()
    cursor = 0
    while True:
        cursor, keys = other.scan(cursor, count=PAGE)
        reads = other.pipeline(transaction=False)
        for key in keys:
            reads.dump(key)
            reads.pttl(key)
        replies = reads.execute()
        writes = cache.pipeline(transaction=False)
        for key, payload, pttl in zip(keys, replies[::2], replies[1::2], strict=True):
            if payload is not None and pttl > 0:
                writes.restore(key, pttl, payload)
        writes.execute()
        if cursor == 0:
            return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.copy", description=__doc__)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=4, help="even: each side first as often")
    parser.add_argument("--concurrency", type=int, default=2, help="the worker's -c")
    args = parser.parse_args()
    copies: list[float] = []
    scripts: list[float] = []
    with tempfile.TemporaryDirectory(prefix="warming-bench-copy-") as tmp:
        workdir = Path(tmp)
        with (
            RedisProcess(data_dir=workdir / "cache") as cache_server,
            RedisProcess(data_dir=workdir / "other") as other_server,
            RedisProcess(data_dir=workdir / "broker") as broker,
        ):
            first = all(run_first(s.process.pid) for s in (cache_server, other_server) if s.process)
            other, cache = other_server.client(0), cache_server.client(0)
            fill(other, args.keys)
            with worker(
                cache_server,
                workdir,
                args.concurrency,
                CELERY_BROKER_URL=broker.url(1),
                CELERY_RESULT_BACKEND=broker.url(2),
            ) as app:

                def copy_s() -> float:
                    started = time.perf_counter()
                    result = app.send_task(
                        "warming_tasks.copy", args=(other_server.url(0),), kwargs={"all_keys": True}
                    )
                    summary = result.get(timeout=600)
                    took = time.perf_counter() - started
                    if summary["copied"] != args.keys:
                        raise RuntimeError(f"the copy copied {summary['copied']} keys")
                    return took

                def timed(which: str) -> float:
                    cache.flushdb()
                    took = copy_s() if which == "copy" else script_s(other, cache)
                    if cache.dbsize() < args.keys:
                        raise RuntimeError(f"the {which} left {cache.dbsize()} keys")
                    return took

                timed("copy")  # warm-up, both alike: imports, pools, the allocator
                timed("script")
                for rep in range(args.repeat):
                    order = ("script", "copy") if rep % 2 else ("copy", "script")
                    for which in order:
                        (copies if which == "copy" else scripts).append(timed(which))
            other.close()
            cache.close()
    per_s = {
        "copy_keys_per_s": spread([args.keys / s for s in copies]),
        "script_keys_per_s": spread([args.keys / s for s in scripts]),
        "copy_vs_script": spread([s / c for c, s in zip(copies, scripts, strict=True)]),
    }
    for name, s in per_s.items():
        print(f"{name:20} {s['median']:12,.2f} ({s['min']:,.2f}-{s['max']:,.2f})")
    result = {
        "keys": args.keys,
        "value_bytes": VALUE_BYTES,
        "repeat": args.repeat,
        "workers": f"1 worker, -c {args.concurrency}",
        "redis_first_in_line": first,
        **per_s,
    }
    name = f"copy-{args.keys}" + ("" if args.concurrency == 2 else f"-c{args.concurrency}")
    print(f"written to {save(result, name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
