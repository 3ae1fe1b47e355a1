"""The SQL benchmark's source: the ``items`` table of BENCH_SQL_URL; the batch size
it declares unless BENCH_SQL_BATCH_SIZE says otherwise, and its pool's pre-ping
unless BENCH_SQL_PRE_PING=0."""

from __future__ import annotations

import os
from typing import Any

from warming_tasks.sql import SQLSource

TTL_S = 3600


def items() -> SQLSource:
    url = os.environ["BENCH_SQL_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    options: dict[str, Any] = {}
    if size := os.environ.get("BENCH_SQL_BATCH_SIZE"):
        options["batch_size"] = int(size)
    return SQLSource(
        url,
        hot_keys="SELECT id FROM items",
        load="SELECT id, body FROM items WHERE id = ANY(:keys)",
        ttl=TTL_S,
        prefix="item:",
        key_type=int,
        engine_options={"pool_pre_ping": os.environ.get("BENCH_SQL_PRE_PING", "1") != "0"},
        **options,
    )
