"""A source of the objects an application caches through its framework: dicts, an
int, and one value no framework can store (a lambda)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

TTL_S = 3600
PRODUCTS = 50


def product(i: int) -> dict[str, Any]:
    """What the application caches under ``product:<i>``: about 100 bytes as JSON."""
    return {"id": i, "name": f"Product {i}", "price_cents": 100 + i * 37, "tags": ["a", "b"]}


def expected(key: str) -> Any:
    """The object the framework must read back for ``key``."""
    if key == "visits":
        return 42
    return product(int(key.split(":")[1]))


def hot_key_names() -> list[str]:
    count = int(os.environ.get("TEST_PRODUCTS", PRODUCTS))
    return [f"product:{i}" for i in range(count)] + ["visits"]


class Objects:
    """``product:<i>`` dicts and ``visits`` (an int); ``bad:lambda`` when TEST_WITH_BAD is set."""

    def hot_keys(self) -> Iterator[str]:
        yield from hot_key_names()
        if os.environ.get("TEST_WITH_BAD"):
            yield "bad:lambda"

    def load(self, key: str) -> tuple[Any, int] | None:
        if key == "bad:lambda":
            return (lambda: None), TTL_S
        if key == "visits" or key.startswith("product:"):
            return expected(key), TTL_S
        return None

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[Any, int]]:
        found = {}
        for key in keys:
            entry = self.load(key)
            if entry is not None:
                found[key] = entry
        return found
