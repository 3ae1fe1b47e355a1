"""A Django shop's catalogue warmed by a preload (``QuerySetSource`` on a ``-c 2``
worker, the django format) against the loop a Django developer writes instead:

    for chunk in chunked(Product.objects.order_by("pk").iterator(chunk_size=2000), 1000):
        cache.set_many({f"product:{p.pk}": p for p in chunk}, 3600)

    python -m benchmarks.django_preload                   # 200,000 products, 4 repetitions
    python -m benchmarks.django_preload --rows 20000      # a quick run

Both read the same rows from a database of the harness's own on this machine's
PostgreSQL (dropped at the end) and write the same keys and pickles (Django's own
cache, its key naming and serializer) to a redis-server of its own. Both warm up
alike; the side that goes first alternates; the ratio is paired within a
repetition. Stores ``django_preload_vs_loop`` in benchmarks/results/.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.maths.batching import chunked

from . import workloads as w
from .figures import spread
from .results import save
from .workers import worker

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
SETTINGS = "benchmarks.shop_settings"
TARGET = 1.5


@contextmanager
def shop_database(rows: int) -> Iterator[str]:
    """A database of our own holding ``rows`` products; its name."""
    name = f"warming_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:5432/{name}") as conn:
            conn.execute(
                "CREATE TABLE shop_product (id serial PRIMARY KEY, name varchar(100) NOT NULL,"
                " description text NOT NULL, price integer NOT NULL)"
            )
            conn.execute(
                "INSERT INTO shop_product (name, description, price) "
                "SELECT 'product ' || g, repeat(md5(g::text), 3), g "
                "FROM generate_series(1, %s) AS g",
                (rows,),
            )
            conn.execute("ANALYZE shop_product")
        yield name
    finally:
        from django.db import connections  # noqa: PLC0415 - Django's, once set up

        connections.close_all()
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def loop(rows: int) -> int:
    """The developer's own loop: the keys it wrote."""
    from django.core.cache import cache  # noqa: PLC0415 - Django's, once set up

    from .shop.models import Product  # noqa: PLC0415

    written = 0
    products = Product.objects.order_by("pk").iterator(chunk_size=2000)
    for chunk in chunked(products, 1000):
        cache.set_many({f"product:{p.pk}": p for p in chunk}, 3600)
        written += len(chunk)
    return written


def measure(
    rows: int, repeat: int, workdir: Path, batch_size: int | None = None
) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"loop_rows_per_s": [], "preload_rows_per_s": []}
    with shop_database(rows) as name, RedisProcess(data_dir=workdir / "redis") as server:
        env = {"DJANGO_SETTINGS_MODULE": SETTINGS, "BENCH_DJANGO_DB": name}
        env["BENCH_DJANGO_CACHE"] = server.url(0)
        os.environ.update(env)
        import django  # noqa: PLC0415 - set up here, with the harness's database

        django.setup()
        from django.core.cache import cache  # noqa: PLC0415

        client = server.client(0)
        with worker(
            server,
            workdir,
            WARMING_SOURCE="",  # the project's WARMING dict names it
            DJANGO_SETTINGS_MODULE=SETTINGS,
            BENCH_DJANGO_DB=name,
            BENCH_DJANGO_CACHE=server.url(0),
            BENCH_DJANGO_BATCH_SIZE=str(batch_size or ""),  # empty: what the source declares
        ) as app:
            # Warm-up, both sides alike: imports, connections, the table in cache.
            loop(rows)
            w.run_task(app, "preload")
            for rep in range(1, repeat + 1):
                print(f"repetition {rep}/{repeat} …", file=sys.stderr, flush=True)
                for side in ("loop", "preload") if rep % 2 else ("preload", "loop"):
                    client.flushdb()
                    started = time.perf_counter()
                    if side == "loop":
                        done = loop(rows)
                    else:
                        _, summary = w.run_task(app, "preload")
                        done = int(summary["loaded"])
                    seconds = time.perf_counter() - started
                    if done != rows:
                        raise RuntimeError(f"the {side} warmed {done} of {rows} products")
                    figures[f"{side}_rows_per_s"].append(rows / seconds)
            found = cache.get("product:42")
            if getattr(found, "name", None) != "product 42":
                raise RuntimeError(f"Django reads back {found!r} for product:42")
        client.flushdb()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.django_preload", description=__doc__
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=4, help="even: each side first as often")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="QuerySetSource's batch_size (default: the batch size it declares)",
    )
    args = parser.parse_args()
    if args.rows < 1000 or args.repeat < 2 or args.repeat % 2:
        parser.error("--rows must be at least 1000 and --repeat even")
    with tempfile.TemporaryDirectory(prefix="warming-django-") as tmp:
        figures = measure(args.rows, args.repeat, Path(tmp), args.batch_size)
    pairs = [
        p / loop_
        for p, loop_ in zip(figures["preload_rows_per_s"], figures["loop_rows_per_s"], strict=True)
    ]
    ratio = spread(pairs)
    result: dict[str, Any] = {
        "rows": args.rows,
        "repeat": args.repeat,
        "batch_size": args.batch_size,  # None: the one QuerySetSource declares
        "figures": {name: spread(values) for name, values in figures.items()},
        "django_preload_vs_loop": ratio
        | {"target": f">= {TARGET}", "meets": ratio["median"] >= TARGET},
    }
    for name, s in result["figures"].items():
        print(f"{name:24} {s['median']:12,.0f}  ({s['min']:,.0f}-{s['max']:,.0f})")
    print(
        f"{'django_preload_vs_loop':24} {ratio['median']:12.2f}  "
        f"({ratio['min']:.2f}-{ratio['max']:.2f}, target >= {TARGET})"
    )
    size = f"-batch{args.batch_size}" if args.batch_size else ""
    print(f"written to {save(result, f'django-preload-{args.rows}{size}')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
