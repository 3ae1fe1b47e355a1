"""SQL sources the tests name in WARMING_SOURCE: the database comes from TEST_SQL_URL."""

from __future__ import annotations

import os

from warming_tasks.sql import SQLSource


def catalogue() -> SQLSource:
    """The ``products`` table that tests/test_sql.py creates, keys ``product:<id>``."""
    return SQLSource(
        os.environ["TEST_SQL_URL"],
        hot_keys="SELECT id FROM products ORDER BY id",
        load="SELECT id, body, ttl FROM products WHERE id IN :keys",
        prefix="product:",
        key_type=int,
    )
