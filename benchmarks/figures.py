"""How every benchmark here reports a figure measured several times."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def spread(values: Sequence[float]) -> dict[str, float]:
    """The median, with the min and max beside it (never one timing alone)."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}
