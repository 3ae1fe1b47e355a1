"""Warming from PostgreSQL: a preload through ``warming_tasks.sql.SQLSource`` on a
worker (``-c 2``) against the script a user would write instead.

    python -m benchmarks --sql                 # 1,000,000 rows, 3 repetitions
    python -m benchmarks --sql --keys 100000   # a quick run

The script is the hand-written anchor: psycopg 3 and redis-py in one process, a
named (server-side) cursor with ``itersize`` 10,000 streaming ``SELECT id, body``
into pipelines of 1,000 ``SET … EX``. Both read the same table of rows of about
100 bytes, in a database of this harness's own on the local PostgreSQL (dropped
at the end), and write to a redis-server of its own; the two are interleaved,
and the ratio is paired within each repetition.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import redis

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import Settings

from . import workloads as w
from .figures import spread
from .workers import worker

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TTL_S = 3600
ITERSIZE = 10_000
PIPELINE = 1_000
SOURCE = "benchmarks.sql_source:items"


@contextmanager
def database(rows: int) -> Iterator[str]:
    """A database of our own holding ``items(id, body)``: ``rows`` rows of ~100 bytes."""
    name = f"warming_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL)")
            conn.execute(
                "INSERT INTO items SELECT g, repeat(md5(g::text), 3) "
                "FROM generate_series(1, %s) AS g",
                (rows,),
            )
            conn.execute("VACUUM ANALYZE items")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def script(url: str, client: redis.Redis) -> int:
    """The user's own script: the rows it wrote."""
    written = 0
    with psycopg.connect(url) as conn, conn.cursor(name="hot") as cur:
        cur.itersize = ITERSIZE
        cur.execute("SELECT id, body FROM items")
        pipe = client.pipeline(transaction=False)
        for key_id, body in cur:
            pipe.set(f"item:{key_id}", body, ex=TTL_S)
            written += 1
            if written % PIPELINE == 0:
                pipe.execute()
        pipe.execute()
    return written


def measure_sql(
    rows: int, repeat: int, workdir: Path, batch_size: int | None = None
) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"sql_script_rows_per_s": [], "sql_preload_rows_per_s": []}
    size = str(batch_size or Settings.model_fields["batch_size"].default)
    with (
        database(rows) as url,
        RedisProcess(data_dir=workdir / "redis") as server,
        worker(
            server, workdir, BENCH_SQL_URL=url, WARMING_SOURCE=SOURCE, WARMING_BATCH_SIZE=size
        ) as app,
    ):
        client = server.client(0)
        w.run_task(app, "preload")  # warm-up: imports, pools, the table in PostgreSQL's cache
        for rep in range(1, repeat + 1):
            print(f"sql repetition {rep}/{repeat} …", flush=True)
            # Alternate which goes first, so neither always finds the other's leftovers.
            for which in ("script", "preload") if rep % 2 else ("preload", "script"):
                client.flushdb()
                if which == "script":
                    started = time.perf_counter()
                    if script(url, client) != rows:
                        raise RuntimeError("the script did not write every row")
                    seconds = time.perf_counter() - started
                else:
                    seconds, summary = w.run_task(app, "preload")
                    if summary["loaded"] != rows:
                        raise RuntimeError(f"the preload loaded {summary['loaded']} of {rows}")
                figures[f"sql_{which}_rows_per_s"].append(rows / seconds)
        client.flushdb()
    return figures


def sql_report(rows: int, figures: dict[str, list[float]]) -> dict[str, Any]:
    pairs = [
        p / s
        for p, s in zip(
            figures["sql_preload_rows_per_s"], figures["sql_script_rows_per_s"], strict=True
        )
    ]
    ratio = spread(pairs)
    return {
        "sql_rows": rows,
        "sql_figures": {name: spread(v) for name, v in figures.items()},
        "sql_preload_vs_script": ratio["median"],
        "sql_preload_vs_script_range": ratio
        | {"target": ">= 1.3", "meets": ratio["median"] >= 1.3},
    }
