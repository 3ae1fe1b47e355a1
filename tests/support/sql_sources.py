"""SQL sources the tests name in WARMING_SOURCE: the database comes from TEST_SQL_URL."""

from __future__ import annotations

import os
from typing import Any

from warming_tasks.sql import SQLSource


def catalogue(**options: Any) -> SQLSource:
    """The ``products`` table that tests/test_sql.py creates, keys ``product:<id>``."""
    return SQLSource(
        os.environ["TEST_SQL_URL"],
        hot_keys="SELECT id FROM products ORDER BY id",
        load="SELECT id, body, ttl FROM products WHERE id IN :keys",
        prefix="product:",
        key_type=int,
        **options,
    )


def catalogue_objects() -> SQLSource:
    """The same rows as the objects an application caches: a dict per product."""
    return catalogue(value=lambda row: {"id": row.id, "body": row.body})
