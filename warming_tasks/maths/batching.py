"""Streaming an iterable (of keys, of batches) into fixed-size batches without holding it whole."""

from collections.abc import Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Yield lists of at most ``size`` items, reading ``items`` lazily."""
    if size < 1:
        raise ValueError(f"batch size must be at least 1, not {size}")
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch
