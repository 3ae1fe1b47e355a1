"""Enqueue a run and follow it to its summary, with progress read from the run's record."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from .store import CacheStore
from .summary import Kind

POLL_S = 0.2
# The counts that say how many keys a run has dealt with so far.
_PROGRESS_FIELDS = {
    Kind.PRELOAD: ("loaded", "missing", "failed"),
    Kind.REFRESH: ("checked",),
    Kind.PREDICTIVE: ("candidates", "already_cached", "failed"),
}


class RunTimeout(Exception):
    """The run did not finish within the time the caller would wait."""


class RunFailed(Exception):
    """The run itself raised: its exception, as the result backend stored it."""


@dataclass(frozen=True)
class Progress:
    """A run seen from outside: batches done of sent, keys dealt with, time elapsed."""

    batches_done: int
    batches_sent: int
    dispatch_finished: bool
    keys: int
    elapsed_s: float

    @property
    def keys_per_s(self) -> float:
        return self.keys / self.elapsed_s if self.elapsed_s > 0 else 0.0


def progress_of(kind: Kind, state: dict[str, str], elapsed_s: float) -> Progress:
    keys = sum(int(state.get(name, 0)) for name in _PROGRESS_FIELDS[kind])
    return Progress(
        batches_done=int(state.get("batches_done", 0)),
        batches_sent=int(state.get("total", state.get("dispatched", 0))),
        dispatch_finished="total" in state,
        keys=keys,
        elapsed_s=elapsed_s,
    )


def enqueue(app: Celery, kind: Kind, kwargs: dict[str, Any] | None = None) -> AsyncResult:
    name = {Kind.PRELOAD: "preload", Kind.REFRESH: "refresh", Kind.PREDICTIVE: "predictive_load"}
    policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
    return app.send_task(
        f"warming_tasks.{name[kind]}", kwargs=kwargs or {}, retry=True, retry_policy=policy
    )


def wait(
    result: AsyncResult,
    kind: Kind,
    store: CacheStore,
    timeout_s: float,
    on_progress: Callable[[Progress], None] | None = None,
) -> dict[str, Any]:
    """Poll until the run's summary arrives; RunTimeout after ``timeout_s``."""
    started = time.monotonic()
    while not result.ready():
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise RunTimeout(
                f"no summary after {timeout_s:g} s; the run goes on in the workers "
                f"(task id {result.id})"
            )
        if on_progress is not None:
            # Progress is best-effort; the summary is what matters.
            with contextlib.suppress(Exception):
                on_progress(progress_of(kind, store.run_state(result.id), elapsed))
        time.sleep(POLL_S)
    outcome = result.get(timeout=max(1.0, timeout_s), propagate=False)
    if result.failed():
        # The run's own error, not ours: keep it apart from losing the backend.
        raise RunFailed(f"{type(outcome).__name__}: {outcome}")
    summary: dict[str, Any] = outcome
    return summary
