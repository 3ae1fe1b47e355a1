"""The copy run's tasks: ``warming_tasks.copy`` lists the other server's keys (the
hottest, or all) and fans them out as ``warming_tasks.copy_batch`` tasks, each a
batch read there and written here (``copier``), a run like the others.

The other server's password never rides in a batch's Celery message (the broker,
Flower, ``celery inspect`` and error trackers show task arguments): the command line
keeps the URL for the run in the cache Redis, which every worker and the command
already hold the credentials of, and sends only the URL with its password masked
and ``from_kept=True``. A caller that sends the entry task a URL with its password
has it kept the same way when the task starts, and the batches are sent it masked.
The kept URL expires WARMING_RUN_STALL_S after the run last moved (each batch renews
it) and the run's end deletes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any

from celery import Task, shared_task

from ..copier import AUTO, METHODS, Copier, choose_method, plan
from ..errors import CopyArgumentError, CopyError
from ..kinds import Kind, empty_summary
from ..records import CopyMethod, Count, Meta
from ..runtime import get_format, get_origin, get_settings, get_store
from ..settings import DEFAULT_SOURCE, redact_url
from ..store import CacheStore
from ..store.origin import Origin
from ..warmer import BatchResult
from .batch import _batch, _run_batch
from .entry import _RUN_GOES_ON, _entry, _run_id, _skipped
from .fanout import Part, best_effort, dispatch


@shared_task(name=Kind.COPY.entry_task, **_entry)
def copy(  # noqa: PLR0913 - the task's arguments, by name
    self: Task,
    from_url: str,
    *,
    top: int | None = None,
    all_keys: bool = False,
    persistent: bool = False,
    method: str = AUTO,
    from_kept: bool = False,
) -> dict[str, Any]:
    """Copy keys the cache lacks from the Redis at ``from_url``: the ``top`` hottest,
    hottest first, or every key (``all_keys``), each with the TTL it has left there;
    keys without a TTL only with ``persistent``. ``method``: ``auto`` (``dump``
    where the cache takes the other server's dump format, else ``get_set``),
    ``dump`` or ``get_set``. ``from_kept``: the URL with its password was kept for
    this run in the cache Redis (the command line does so); ``from_url`` is then
    shown only."""
    run_id = _run_id(self)
    _check_arguments(from_url, top, all_keys, persistent, method, from_kept)
    store = get_store()
    record = store.run_record(run_id)
    if record.total is not None or record.finished_at is not None:
        # A redelivered entry whose run was sent: dispatch says what it returns.
        return dispatch(self, Kind.COPY, run_id, [], None)
    if skipped := _skipped(Kind.COPY, None):
        best_effort(store.forget_copy_from, run_id)
        return empty_summary(Kind.COPY, run_id, skipped)
    try:
        url = _url(store, run_id, from_url, from_kept)
        if not from_kept and redact_url(from_url) != from_url:
            # Passed with its password: kept for the run as the command line keeps it,
            # so that the batch messages carry it masked.
            from_url, from_kept = redact_url(from_url), True
            store.keep_copy_from(run_id, url, get_settings().run_stall_s)
        elif from_kept:
            store.renew_copy_from(run_id, get_settings().run_stall_s)
        return _start(self, run_id, url, from_url, from_kept, top, method, persistent)
    except _RUN_GOES_ON:
        raise
    except BaseException:
        # The run will never start: its other server's URL must not outlive it.
        best_effort(store.forget_copy_from, run_id)
        raise


def _start(  # noqa: PLR0913, PLR0917 - the task's arguments
    task: Task,
    run_id: str,
    url: str,
    from_url: str,
    from_kept: bool,
    top: int | None,
    method: str,
    persistent: bool,
) -> dict[str, Any]:
    """List the other server's keys at ``url`` and fan them out (the batches are
    sent ``from_url``, masked where ``from_kept``), the run's record opened with
    where from, how values move and how the keys were listed."""
    store = get_store()
    origin = get_origin(url)
    refuse_the_cache_itself(origin, store)
    listed = plan(origin, store, top, get_format().redis_key)
    chosen = choose_method(origin, store, run_id, method)
    options = {
        "from_url": from_url,
        "from_kept": from_kept,
        "method": chosen.value,
        "persistent": persistent,
        "gone": listed.gone.value,
    }
    keys = listed.keys if top is None else _counted(store, run_id, listed.keys)
    part = Part(DEFAULT_SOURCE, keys, get_settings().batch_size, options=options)
    facts: dict[str, str] = {
        Meta.COPY_FROM: origin.shown,
        Meta.METHOD: chosen,
        Meta.LISTING: listed.listing,
    }
    return dispatch(task, Kind.COPY, run_id, [part], None, facts=facts)


def _counted(
    store: CacheStore, run_id: str, keys: Callable[[], Iterable[str]]
) -> Callable[[], Iterator[str]]:
    """The ranked keys, their number recorded (``ranked``) once all are listed: fewer
    than ``--top`` asked for where the ranking held fewer."""

    def counting() -> Iterator[str]:
        ranked = 0
        for key in keys():
            ranked += 1
            yield key
        store.set_run_count(run_id, Count.RANKED, ranked)

    return counting


def _check_arguments(  # noqa: PLR0913, PLR0917 - the task's arguments
    from_url: str, top: int | None, all_keys: bool, persistent: bool, method: str, kept: bool
) -> None:
    if not isinstance(from_url, str) or not from_url:
        raise ValueError("from_url is invalid: must be the other Redis' URL")
    if top is not None and (isinstance(top, bool) or not isinstance(top, int) or top < 1):
        raise ValueError(f"top={top!r} is invalid: must be a positive integer")
    for name, flag in (("all_keys", all_keys), ("persistent", persistent), ("from_kept", kept)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name}={flag!r} is invalid: must be true or false")
    if (top is None) == (not all_keys):
        raise ValueError("give top=N (the N hottest keys) or all_keys=True, one of them")
    if method not in METHODS:
        raise ValueError(f"method={method!r} is invalid: must be one of {', '.join(METHODS)}")


def _url(store: CacheStore, run_id: str, from_url: str, kept: bool) -> str:
    """The other server's URL, password and all."""
    if not kept:
        return from_url
    url = store.copy_from(run_id)
    if url is None:
        raise CopyError(
            f"the URL of the other server ({redact_url(from_url)}) kept for run {run_id} is "
            "gone from the cache Redis (restarted without persistence, or flushed): copy again"
        )
    return url


def refuse_the_cache_itself(origin: Origin, cache: CacheStore) -> None:
    """CopyArgumentError where the other server is the cache's own server and
    database: every key would be found there already."""
    theirs, ours = origin.identity(), Origin(cache.client, "the cache").identity()
    if theirs is not None and theirs == ours:
        raise CopyArgumentError(
            f"--from {origin.shown} is the cache itself: copy from another Redis"
        )


@shared_task(name=Kind.COPY.batch_task, **_batch)
def copy_batch(  # noqa: PLR0913, PLR0917 - the batch message format
    self: Task,
    run_id: str,
    index: int,
    keys: list[str],
    lock: str = "",
    outcome: Any = None,
    *,
    from_url: str,
    from_kept: bool = False,
    method: str = CopyMethod.DUMP.value,
    persistent: bool = False,
    gone: str = Count.EXPIRED.value,
) -> dict[str, int]:
    """Copy one batch of keys from the other server where the cache holds none."""

    def work() -> BatchResult:
        store = get_store()
        if store.stand_down(run_id):
            # Paused, cancelled, or closed as stalled: the other server is not read.
            return BatchResult({Count.CANCELLED: len(keys)})
        if from_kept:
            # The run goes on: its URL is kept another WARMING_RUN_STALL_S.
            best_effort(store.renew_copy_from, run_id, get_settings().run_stall_s)
        origin = get_origin(_kept_url(run_id, from_url) if from_kept else from_url)
        copier = Copier(
            store,
            origin,
            get_settings(),
            method=CopyMethod(method),
            persistent=persistent,
            gone=Count(gone),
        )
        if copier.pace(len(keys)) > 0 and store.stand_down(run_id):
            return BatchResult({Count.CANCELLED: len(keys)})  # stood down while it waited
        return copier.copy(keys)

    return _run_batch(self, Kind.COPY, run_id, index, keys, lock, outcome, None, work)


@lru_cache(maxsize=16)
def _kept_url(run_id: str, from_url: str) -> str:
    """The URL kept for the run, read once per process and run (a run's batches come
    one after another to the same workers)."""
    return _url(get_store(), run_id, from_url, kept=True)
