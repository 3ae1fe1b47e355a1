"""``maths.batching``: keys streamed into batches of ``batch_size``, never read ahead."""

from __future__ import annotations

import itertools

import pytest

from warming_tasks.maths.batching import chunked


@pytest.mark.parametrize(
    ("count", "size", "expected"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (502, 100, [100] * 5 + [2])],
)
def test_chunked_sizes(count: int, size: int, expected: list[int]) -> None:
    batches = list(chunked((str(i) for i in range(count)), size))
    assert [len(b) for b in batches] == expected
    assert [k for b in batches for k in b] == [str(i) for i in range(count)]


def test_chunked_streams_without_exhausting_the_source() -> None:
    endless = (str(i) for i in itertools.count())
    first = next(chunked(endless, 1000))
    assert first[-1] == "999"
    assert next(endless) == "1000"  # nothing read ahead


def test_chunked_rejects_a_zero_size() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked(["a"], 0))
