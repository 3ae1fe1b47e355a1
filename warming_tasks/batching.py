"""Streaming a key iterable into fixed-size batches without holding it whole."""

from collections.abc import Iterable, Iterator
from itertools import islice


def chunked(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    """Yield lists of at most ``size`` keys, reading ``keys`` lazily."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    iterator = iter(keys)
    while batch := list(islice(iterator, size)):
        yield batch
