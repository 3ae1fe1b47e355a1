"""The SQL benchmark's source: the ``items`` table of BENCH_SQL_URL."""

from __future__ import annotations

import os

from warming_tasks.sql import SQLSource

TTL_S = 3600


def items() -> SQLSource:
    url = os.environ["BENCH_SQL_URL"].replace("postgresql://", "postgresql+psycopg://", 1)
    return SQLSource(
        url,
        hot_keys="SELECT id FROM items",
        load="SELECT id, body FROM items WHERE id = ANY(:keys)",
        ttl=TTL_S,
        prefix="item:",
        key_type=int,
    )
