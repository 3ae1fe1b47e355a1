"""A log throttle: a bad source must not flood the worker log with one line per key."""

from __future__ import annotations

import time
from collections.abc import Callable


class Throttle:
    """Allow ``limit`` events per ``period_s`` seconds; count what it holds back."""

    def __init__(
        self, limit: int, period_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.period_s = period_s
        self.clock = clock
        self._window_start = clock()
        self._used = 0
        self.suppressed = 0

    def allow(self) -> tuple[bool, int]:
        """Whether this event may be logged, and how many were held back before it."""
        now = self.clock()
        if now - self._window_start >= self.period_s:
            self._window_start, self._used = now, 0
        if self._used < self.limit:
            self._used += 1
            held, self.suppressed = self.suppressed, 0
            return True, held
        self.suppressed += 1
        return False, 0
