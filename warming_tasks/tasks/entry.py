"""The entry tasks that callers enqueue: each checks its arguments and its strategy,
then starts a run (see ``fanout``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import Ignore

from ..errors import SourceError
from ..kinds import Kind, empty_summary
from ..maths.popularity import popular_first
from ..records import Count
from ..retries import AUTORETRY, TRANSIENT
from ..runtime import get_sources, get_store
from ..settings import get_settings
from ..sources import NamedSource, pick, route
from ..store import CacheStore
from ..store.control import PAUSED
from ..warmer import DueKeys, read_floor
from .fanout import Part, RunEntry, best_effort, dispatch

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
def preload(
    self: Task, by_popularity: bool | None = None, source: str | None = None
) -> dict[str, Any]:
    """Load every hot key of ``source`` (None: of every source) into the cache; with
    ``by_popularity`` (default ``WARMING_PRELOAD_BY_POPULARITY``) the most-read keys
    go first."""
    run_id = _run_id(self)
    sources = sources_for(source)
    if skipped := _skipped(Kind.PRELOAD, source):
        return empty_summary(Kind.PRELOAD, run_id, skipped, source)
    if by_popularity is None:
        by_popularity = get_settings().preload_by_popularity
    if not isinstance(by_popularity, bool):
        raise ValueError(f"by_popularity={by_popularity!r} is invalid: must be true or false")

    def hot_keys(named: NamedSource) -> Callable[[], Iterable[str]]:
        if by_popularity:
            return lambda: popular_first(named.source.hot_keys, get_store().frequency_scores)
        return named.source.hot_keys

    parts = [Part(n.name, hot_keys(n), n.settings.batch_size) for n in sources]
    return dispatch(self, Kind.PRELOAD, run_id, parts, source)


@shared_task(name=Kind.REFRESH.entry_task, **_entry)
def refresh(self: Task, source: str | None = None) -> dict[str, Any]:
    """Reload the hot keys of ``source`` (None: of every source) that are about to
    expire; one run at a time per source."""
    run_id = _run_id(self)
    sources = sources_for(source)
    if skipped := _skipped(Kind.REFRESH, source):
        return empty_summary(Kind.REFRESH, run_id, skipped, source)
    store = get_store()
    record = store.run_record(run_id)
    if record.total is not None or record.finished_at is not None:
        # A redelivered entry whose run was sent: dispatch says what it returns,
        # without taking the locks again (the run's batches hold them).
        return dispatch(self, Kind.REFRESH, run_id, [], source)
    taken: list[NamedSource] = []
    for named in sources:
        holder = store.acquire_lock(run_id, named.name)
        if holder != run_id:
            for other in taken:
                store.release_lock(run_id, other.name)
            best_effort(store.count_skipped, Kind.REFRESH.value, source)
            busy = f"a refresh run is in progress: {holder}"
            return empty_summary(Kind.REFRESH, run_id, busy, source)
        taken.append(named)
    dues: dict[str, DueKeys] = {}
    parts = []
    for named in sources:
        due = _due_keys(store, run_id, named, list(dues.values()))
        dues[named.name] = due
        parts.append(Part(named.name, _due_stream(due, named), named.settings.batch_size, run_id))
    try:
        return dispatch(self, Kind.REFRESH, run_id, parts, source, dues)
    except _RUN_GOES_ON:
        raise
    except BaseException:
        for named in sources:
            store.release_lock(run_id, named.name)
        raise


def _due_keys(store: CacheStore, run_id: str, named: NamedSource, before: list[DueKeys]) -> DueKeys:
    """The due keys of ``named``, its progress counted after the sources ``before`` it."""
    settings = named.settings

    def progress(checked: int) -> None:
        done = sum(due.checked for due in before)
        best_effort(store.set_run_count, run_id, Count.CHECKED, done + checked)

    return DueKeys(
        store,
        settings.refresh_threshold,
        settings.batch_size,
        progress,
        lambda: read_floor(store, settings, time.time()),
    )


def _due_stream(due: DueKeys, named: NamedSource) -> Callable[[], Iterable[str]]:
    """The due keys of ``named``'s hot keys, listed only when dispatch asks for them
    (the run's record is open by then)."""
    return lambda: due(named.source.hot_keys())


@shared_task(name=Kind.PREDICTIVE.entry_task, **_entry)
def predictive_load(
    self: Task, limit: int | None = None, source: str | None = None
) -> dict[str, Any]:
    """Load the most-read keys that are not cached, never overwriting the application;
    each key by the first source whose ``keys`` claims it (``source``: that one alone)."""
    run_id = _run_id(self)
    sources = sources_for(source)
    if skipped := _skipped(Kind.PREDICTIVE, source):
        return empty_summary(Kind.PREDICTIVE, run_id, skipped, source)
    if limit is None:
        limit = get_settings().predictive_limit
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit={limit!r} is invalid: must be a positive integer")
    routed: dict[str, list[str]] = {}

    def ranked(name: str) -> Callable[[], Iterable[str]]:
        def keys() -> list[str]:
            if not routed:  # ranked and routed once, when the first source's keys are asked
                top = [key for key, _ in get_store().top_keys(limit)]
                if get_settings().auto_half_life:
                    best_effort(get_store().note_warm_set, limit)
                # Each key to the first source that claims it among all of them; a run
                # of one source loads its share, and what no source claims is unrouted.
                by_source, unrouted = route(top, get_sources().values())
                routed.update(by_source)
                if unrouted or get_settings().sources:
                    best_effort(get_store().set_run_count, run_id, Count.UNROUTED, unrouted)
            return routed.get(name, [])

        return keys

    parts = [Part(n.name, ranked(n.name), n.settings.batch_size) for n in sources]
    return dispatch(self, Kind.PREDICTIVE, run_id, parts, source)


def sources_for(name: str | None) -> list[NamedSource]:
    """The sources a task's ``source`` argument names (None: every source)."""
    if name is not None and not isinstance(name, str):
        raise ValueError(f"source={name!r} is invalid: must be a source's name")
    try:
        return pick(get_sources(), name)
    except SourceError as exc:
        if name is None:
            raise
        raise ValueError(f"source={name!r} is invalid: {exc}") from None


def _run_id(task: Task) -> str:
    return str(task.request.id or uuid.uuid4())


def _skipped(kind: Kind, source: str | None) -> str | None:
    reason = get_settings().allows(kind.strategy) or (PAUSED if get_store().paused() else None)
    if reason:
        best_effort(get_store().count_skipped, kind.value, source)
    return reason
