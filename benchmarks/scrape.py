"""What one Prometheus scrape of ``warming-tasks metrics`` costs the cache Redis,
with a million keys tracked and the run records of a busy fleet.

    python -m benchmarks.scrape                # 1,000,000 tracked keys, 200 scrapes
    python -m benchmarks.scrape --keys 10000

It counts the commands and round trips a scrape sends (from ``INFO`` deltas and
the client's connection), and times a whole scrape over HTTP against the real
exporter, beside a bare ``PING`` round trip on the same server.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import redis
from prometheus_client import start_http_server

from warming_tasks import constants as c
from warming_tasks.cli.embedded import RedisProcess, free_port
from warming_tasks.kinds import Kind
from warming_tasks.ops.metrics import registry_for
from warming_tasks.records import Outcome, Total, TotalsField
from warming_tasks.store import CacheStore

from .figures import spread
from .results import save


def fill(client: Any, keys: int) -> None:
    """``keys`` members in the frequency set, and the counters of a fleet that ran."""
    for start in range(0, keys, 10_000):
        client.zadd(
            c.FREQUENCY_KEY, {f"product:{i}": i for i in range(start, min(keys, start + 10_000))}
        )
    client.hset(
        c.ACCOUNT_KEY,
        mapping={
            f"{n}:{k}": 1000
            for n in ("warmed", "failed", "sampled", "read", "expired")
            for k in range(3)
        },
    )
    ran = {str(TotalsField(Total.RUNS, kind.value, Outcome.OK)): 10 for kind in Kind}
    last = {
        str(TotalsField(Total.FINISHED_AT, Kind.REFRESH.value)): time.time(),
        str(TotalsField(Total.DURATION_S, Kind.REFRESH.value)): 1.5,
    }
    client.hset(c.RUN_TOTALS_KEY, mapping=ran | last)
    client.hset(c.READS_KEY, mapping={"hits": 900, "misses": 100})


class CountingConnection(redis.Connection):
    """A connection that counts what it sends: one send is one round trip."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def commands(client: Any) -> int:
    return int(client.info("stats")["total_commands_processed"])


def measure(keys: int, scrapes: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir, RedisProcess(data_dir=Path(workdir)) as server:
        client = server.client()
        fill(client, keys)
        pool = redis.ConnectionPool(port=server.port, connection_class=CountingConnection)
        counted = redis.Redis(connection_pool=pool)
        store = CacheStore(counted)
        store.snapshot()  # connect first
        before, sends = commands(client), CountingConnection.sends
        store.snapshot()
        per_scrape = commands(client) - before - 1  # the INFO call itself counts once
        round_trips = CountingConnection.sends - sends
        port = free_port()
        http, thread = start_http_server(port, addr="127.0.0.1", registry=registry_for(store))
        url = f"http://127.0.0.1:{port}/metrics"
        try:
            scrape_ms, ping_ms = [], []
            for _ in range(scrapes):
                t0 = time.perf_counter()
                with urllib.request.urlopen(url, timeout=5) as reply:
                    body = reply.read()
                scrape_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                client.ping()
                ping_ms.append((time.perf_counter() - t0) * 1000)
        finally:
            http.shutdown()
            thread.join(timeout=5)
        return {
            "tracked_keys": keys,
            "redis_commands_per_scrape": per_scrape,
            "redis_round_trips_per_scrape": round_trips,
            "scrape_ms": spread(scrape_ms),
            "ping_ms": spread(ping_ms),
            "body_bytes": len(body),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--scrapes", type=int, default=200)
    args = parser.parse_args()
    result = measure(args.keys, args.scrapes)
    print(json.dumps(result, indent=2))
    print(f"written to {save(result | {'scrapes': args.scrapes}, f'scrape-{args.keys}')}")


if __name__ == "__main__":
    main()
