"""SQL sources the tests name in WARMING_SOURCE: the database comes from TEST_SQL_URL."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
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


class SplitCatalogue:
    """Hot keys from TEST_SQL_URL, batches from TEST_SQL_LOAD_URL: a database that
    fails only the batches (the test closes and opens the way to it)."""

    def __init__(self) -> None:
        self.listing = catalogue()
        self.loading = SQLSource(
            os.environ["TEST_SQL_LOAD_URL"],
            hot_keys="SELECT id FROM products",
            load="SELECT id, body, ttl FROM products WHERE id IN :keys",
            prefix="product:",
            key_type=int,
        )

    def hot_keys(self) -> Iterator[str]:
        return self.listing.hot_keys()

    def load_many(self, keys: Sequence[str]) -> dict[str, tuple[Any, int]]:
        return self.loading.load_many(keys)
