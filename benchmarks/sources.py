"""Benchmark sources: answers cost nothing, so the figures measure warming-tasks itself."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence

VALUE = "x" * 100
TTL_S = 3600


class InstantSource:
    """``bench:0`` … ``bench:N-1`` (N from BENCH_KEYS), 100-byte values, TTL 3600."""

    def __init__(self) -> None:
        self.count = int(os.environ.get("BENCH_KEYS", "100000"))

    def hot_keys(self) -> Iterator[str]:
        return (f"bench:{i}" for i in range(self.count))

    def load(self, key: str) -> tuple[str, int] | None:
        return VALUE, TTL_S

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[str, int]]:
        return dict.fromkeys(keys, (VALUE, TTL_S))
