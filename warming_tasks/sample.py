"""A built-in sample data source: a product catalogue computed on the fly.

The demo uses it, and it is the smallest example of a source to copy:
``WARMING_SOURCE=warming_tasks.sample:SampleSource``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence

DEFAULT_PRODUCTS = 5_000
TTL_S = 3_600


class SampleSource:
    """Products ``product:0`` … ``product:N-1`` (N from ``SAMPLE_PRODUCTS``); every tenth is hot.

    Values are JSON text, for ``WARMING_FORMAT=raw``, or with ``SAMPLE_OBJECTS=1``
    the dicts themselves, for a framework format to encode.
    """

    def __init__(self, products: int | None = None, ttl_s: int = TTL_S) -> None:
        self.products = products or int(os.environ.get("SAMPLE_PRODUCTS", DEFAULT_PRODUCTS))
        self.ttl_s = ttl_s
        self.objects = os.environ.get("SAMPLE_OBJECTS", "") == "1"

    def hot_keys(self) -> Iterator[str]:
        return (f"product:{i}" for i in range(0, self.products, 10))

    def load(self, key: str) -> tuple[str | dict[str, object], int] | None:
        prefix, _, number = key.partition(":")
        if prefix != "product" or not number.isdigit() or int(number) >= self.products:
            return None
        i = int(number)
        value: dict[str, object] = {
            "id": i,
            "name": f"Product {i}",
            "price_cents": 100 + (i * 37) % 9_900,
        }
        return (value if self.objects else json.dumps(value)), self.ttl_s

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str | dict[str, object], int]]:
        found = {}
        for key in keys:
            entry = self.load(key)
            if entry is not None:
                found[key] = entry
        return found
