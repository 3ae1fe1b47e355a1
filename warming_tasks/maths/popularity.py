"""Hot keys in popularity order, so a cold cache gets its most-read keys first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from .batching import chunked

Scores = Callable[[Sequence[str]], Sequence[float | None]]


def popular_first(
    hot_keys: Callable[[], Iterable[str]], scores: Scores, chunk: int = 10_000
) -> Iterator[str]:
    """The source's hot keys, those read most (by ``scores``) first, the rest in source order.

    The hot keys are read twice: once to find those with a score, which are held
    and sorted (no more than the frequency set's members, so memory stays bounded
    however many hot keys there are), then again to stream the rest.
    """
    ranked: dict[str, float] = {}
    for keys in chunked(hot_keys(), chunk):
        for key, score in zip(keys, scores(keys), strict=True):
            if score is not None:
                ranked[key] = score
    yield from sorted(ranked, key=ranked.__getitem__, reverse=True)
    yield from (key for key in hot_keys() if key not in ranked)
