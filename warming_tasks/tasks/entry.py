"""The entry tasks that callers enqueue: each checks its arguments and its strategy,
then starts a run (see ``fanout``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Ignore

from ..kinds import Kind, empty_summary
from ..maths.popularity import popular_first
from ..retries import AUTORETRY, TRANSIENT
from ..runtime import get_source, get_store
from ..settings import get_settings
from ..store.control import PAUSED
from ..warmer import DueKeys, read_floor
from .fanout import RunEntry, best_effort, dispatch

# Dispatch is idempotent (batches are counted by index), so an entry task that
# lost the cache or the broker mid-dispatch simply runs again under the same id.
_entry: dict[str, Any] = {
    "base": RunEntry,
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    **AUTORETRY,
}
# A refresh run that ends in these still goes on (in its batches, or in the
# retry): it keeps its lock.
_RUN_GOES_ON: tuple[type[BaseException], ...] = (Ignore, *TRANSIENT)


@shared_task(name=Kind.PRELOAD.entry_task, **_entry)
def preload(self: Task, by_popularity: bool | None = None) -> dict[str, Any]:
    """Load every hot key of the source into the cache; with ``by_popularity``
    (default ``WARMING_PRELOAD_BY_POPULARITY``) the most-read keys go first."""
    run_id = _run_id(self)
    if skipped := _skipped(Kind.PRELOAD):
        return empty_summary(Kind.PRELOAD, run_id, skipped)
    if by_popularity is None:
        by_popularity = get_settings().preload_by_popularity
    if not isinstance(by_popularity, bool):
        raise ValueError(f"by_popularity={by_popularity!r} is invalid: must be true or false")

    def hot_keys() -> Iterable[str]:
        source = get_source()
        if by_popularity:
            return popular_first(source.hot_keys, get_store().frequency_scores)
        return source.hot_keys()

    return dispatch(self, Kind.PRELOAD, run_id, hot_keys)


@shared_task(name=Kind.REFRESH.entry_task, **_entry)
def refresh(self: Task) -> dict[str, Any]:
    """Reload the hot keys that are about to expire; one run at a time."""
    run_id = _run_id(self)
    if skipped := _skipped(Kind.REFRESH):
        return empty_summary(Kind.REFRESH, run_id, skipped)
    store = get_store()
    holder = store.acquire_lock(run_id)
    if holder != run_id:
        best_effort(store.count_skipped, Kind.REFRESH.value)
        return empty_summary(Kind.REFRESH, run_id, f"a refresh run is in progress: {holder}")
    settings = get_settings()
    due = DueKeys(
        store,
        settings.refresh_threshold,
        settings.batch_size,
        lambda checked: best_effort(store.set_run_count, run_id, "checked", checked),
        lambda: read_floor(store, settings, time.time()),
    )
    try:
        return dispatch(
            self, Kind.REFRESH, run_id, lambda: due(get_source().hot_keys()), lock=run_id, due=due
        )
    except _RUN_GOES_ON:
        raise
    except BaseException:
        store.release_lock(run_id)
        raise


@shared_task(name=Kind.PREDICTIVE.entry_task, **_entry)
def predictive_load(self: Task, limit: int | None = None) -> dict[str, Any]:
    """Load the most-read keys that are not cached, never overwriting the application."""
    run_id = _run_id(self)
    if skipped := _skipped(Kind.PREDICTIVE):
        return empty_summary(Kind.PREDICTIVE, run_id, skipped)
    if limit is None:
        limit = get_settings().predictive_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit={limit!r} is invalid: must be a positive integer")
    top = limit

    def ranked() -> list[str]:
        return [key for key, _ in get_store().top_keys(top)]

    return dispatch(self, Kind.PREDICTIVE, run_id, ranked)


def _run_id(task: Task) -> str:
    return str(task.request.id or uuid.uuid4())


def _skipped(kind: Kind) -> str | None:
    reason = get_settings().allows(kind.strategy) or (PAUSED if get_store().paused() else None)
    if reason:
        best_effort(get_store().count_skipped, kind.value)
    return reason
