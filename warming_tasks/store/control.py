"""What operators switch: the pause flag, a run's cancel flag, the source budget,
and the check every batch makes before it calls the source."""

from __future__ import annotations

import json
import time
from typing import Any, cast

from .. import constants as c
from ..records import Meta, run_keys
from ..settings import DEFAULT_SOURCE
from .base import StoreBase, text

PAUSED = "warming is paused"
CANCELLED = "the run was cancelled"
CLOSED = "the run was closed before this batch reported"


class ControlCommands(StoreBase):
    """Pause and resume, cancel a run, and the budget of keys per second."""

    def pause(self, by: str) -> bool:
        """Pause warming; False if it was paused already (the first pause is kept)."""
        flag = json.dumps({"since": time.time(), "by": by})
        return bool(self.client.set(self._own(c.PAUSED_KEY), flag, nx=True))

    def resume(self) -> bool:
        """Resume warming; False if it was not paused."""
        return bool(self.client.delete(self._own(c.PAUSED_KEY)))

    def paused(self) -> dict[str, Any] | None:
        """Since when and by whom warming is paused, or None."""
        raw = self.client.get(self._own(c.PAUSED_KEY))
        return None if raw is None else cast(dict[str, Any], json.loads(raw))

    def cancel_run(self, run_id: str) -> str:
        """``cancelled``, ``already cancelled``, ``finished`` or ``unknown``."""
        record = self._own(run_keys(run_id).record)
        return text(self._run("cancel", [record], [time.time()]))

    def stand_down(self, run_id: str) -> str | None:
        """Why a batch of ``run_id`` must not warm its keys (paused, cancelled, closed),
        or None: one round trip."""
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(self._own(c.PAUSED_KEY))
        pipe.hmget(self._own(run_keys(run_id).record), Meta.CANCEL, Meta.FINISHED_AT)
        paused, (cancel, finished) = pipe.execute()
        if finished is not None:
            return CLOSED
        if cancel is not None:
            return CANCELLED
        return PAUSED if paused else None

    def reserve(self, keys: int, rate: float, source: str = DEFAULT_SOURCE) -> float:
        """Reserve ``keys`` from the budget of ``source``, ``rate`` keys per second
        shared by every worker; the seconds to wait before loading them."""
        key = c.BUDGET_KEY if source == DEFAULT_SOURCE else f"{c.BUDGET_KEY}:{source}"
        return float(self._run("budget", [self._own(key)], [keys, rate]))

    def pace(self, keys: int, rate: float, source: str = DEFAULT_SOURCE) -> float:
        """Wait for ``keys`` of the budget of ``source`` (none when ``rate`` is 0): the
        seconds waited."""
        wait_s = self.reserve(keys, rate, source) if rate and keys else 0.0
        if wait_s > 0:
            time.sleep(wait_s)
        return wait_s
