"""The Celery tasks: thin shells over the warmer that chunk, fan out and summarise.

A run is dispatched by its entry task (``preload``, ``refresh``, ``predictive_load``)
which streams keys into batch tasks without holding them all, so a source of ten
million hot keys costs the dispatcher no more memory than one of a thousand.
Batches count themselves into the run's record in Redis exactly once; the last
to finish sends ``finish_run`` under the entry task's own id — as
``Task.replace`` does — so the caller's ``AsyncResult.get()`` returns the summary.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

from celery import Task, shared_task, signals
from celery.exceptions import Ignore
from kombu.exceptions import OperationalError

from . import constants as c
from . import startup
from .accounting import KIND_CODES
from .batching import chunked
from .popularity import popular_first
from .routing import warming_queue
from .runtime import get_source, get_store, get_warmer, reset
from .settings import get_settings
from .store import CONNECTION_ERRORS, PERMANENT_ERRORS, CacheStore, retryable
from .summary import Kind, build_summary, empty_summary
from .throttle import Throttle
from .warmer import BatchResult, DueKeys

log = logging.getLogger(__name__)

MAX_RETRIES = 8
# Per-key failures are logged one line each, but no more than this per minute and
# process: a source that fails every key must not flood the worker log.
_key_failures = Throttle(limit=20, period_s=60)
_BATCH_TASKS = {
    Kind.PRELOAD: "warming_tasks.preload_batch",
    Kind.REFRESH: "warming_tasks.refresh_batch",
    Kind.PREDICTIVE: "warming_tasks.predictive_batch",
}
# Where a finished run's summary must go: what Task.replace would hand on.
# Worth a retry: the cache or the broker was unreachable, not wrong.
_RETRYABLE: tuple[type[Exception], ...] = (*CONNECTION_ERRORS, OperationalError)
# An entry task that ends in these still has a run going on: it keeps its lock.
_KEEP_LOCK: tuple[type[BaseException], ...] = (Ignore, *_RETRYABLE)
_DELIVERY = ("callbacks", "errbacks", "chain", "chord", "group", "group_index", "root_id")
_DELIVERY_OPTIONS = {"callbacks": "link", "errbacks": "link_error", "group": "group_id"}

_durable = {"acks_late": True, "reject_on_worker_lost": True, "bind": True}
# Dispatch is idempotent (batches are counted by index), so an entry task that
# lost the cache mid-dispatch can simply run again under the same id.
_entry = _durable | {
    "autoretry_for": _RETRYABLE,
    "dont_autoretry_for": PERMANENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": 30,
    "max_retries": MAX_RETRIES,
}
# Batches count themselves into the run's record: their own results are never read.
_batch = _durable | {"max_retries": MAX_RETRIES, "ignore_result": True}


# Start-up checks, here rather than in the app module so that a user's own app
# that includes these tasks gets them too.
@signals.celeryd_init.connect
def _check_worker(**_: Any) -> None:
    startup.check_worker()


@signals.beat_init.connect
def _check_beat(**_: Any) -> None:
    startup.check_settings()


@signals.worker_ready.connect
def _warn_operator(**_: Any) -> None:
    startup.warn_operator()


@signals.worker_process_init.connect
def _fresh_after_fork(**_: Any) -> None:
    # Each pool child builds its own source, client and warmer: a database
    # connection opened by the parent must not be shared across processes.
    reset()


def backoff_s(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: exponential, capped, jittered."""
    return float(min(30, 2**retries)) * (0.5 + random.random() / 2)


# -- entry tasks ---------------------------------------------------------------------


@shared_task(name="warming_tasks.preload", **_entry)
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

    return _dispatch(self, Kind.PRELOAD, run_id, hot_keys)


@shared_task(name="warming_tasks.refresh", **_entry)
def refresh(self: Task) -> dict[str, Any]:
    """Reload the hot keys that are about to expire; one run at a time."""
    run_id = _run_id(self)
    if skipped := _skipped(Kind.REFRESH):
        return empty_summary(Kind.REFRESH, run_id, skipped)
    store = get_store()
    holder = store.acquire_lock(run_id)
    if holder != run_id:
        return empty_summary(Kind.REFRESH, run_id, f"a refresh run is in progress: {holder}")
    settings = get_settings()
    due = DueKeys(
        store,
        settings.refresh_threshold,
        settings.batch_size,
        lambda checked: _best_effort(store.set_run_count, run_id, "checked", checked),
    )
    try:
        return _dispatch(
            self, Kind.REFRESH, run_id, lambda: due(get_source().hot_keys()), lock=run_id, due=due
        )
    except _KEEP_LOCK:
        raise  # the run goes on (in its batches, or in the retry): it keeps its lock
    except BaseException:
        store.release_lock(run_id)
        raise


@shared_task(name="warming_tasks.predictive_load", **_entry)
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

    return _dispatch(self, Kind.PREDICTIVE, run_id, ranked)


def _run_id(task: Task) -> str:
    return str(task.request.id or uuid.uuid4())


def _skipped(kind: Kind) -> str | None:
    return get_settings().allows(kind.strategy)


def _delivery(task: Task) -> dict[str, Any]:
    request = task.request
    options = {}
    for name in _DELIVERY:
        value = getattr(request, name, None)
        if value is not None and value != []:
            options[_DELIVERY_OPTIONS.get(name, name)] = value
    return options


def _dispatch(
    task: Task,
    kind: Kind,
    run_id: str,
    keys: Callable[[], Iterable[str]],
    lock: str = "",
    due: DueKeys | None = None,
) -> dict[str, Any]:
    store = get_store()
    state = store.run_state(run_id)
    if "total" in state:
        # A redelivered dispatcher whose run was fully sent: never send it twice.
        if "finished_at" in state:
            return _finish(run_id)
        raise Ignore()
    store.start_run(
        run_id,
        {
            "kind": kind.value,
            "started_at": time.time(),
            "lock": lock,
            "delivery": json.dumps(_delivery(task)),
        },
    )
    batch_task = task.app.tasks[_BATCH_TASKS[kind]]
    sent = 0
    dispatch_started = time.monotonic()
    route = _queue()
    with task.app.producer_or_acquire() as producer, _publish_batch(producer):
        for index, batch in enumerate(_batches(store, run_id, keys)):
            batch_task.apply_async(
                args=(run_id, index, batch, lock),
                argsrepr=f"(run={run_id}, batch={index}, keys={len(batch)})",
                producer=producer,
                **route,
                # Celery would keep every batch's AsyncResult in request.children:
                # memory growing with the key count, for results nobody reads.
                add_to_parent=False,
            )
            sent = index + 1
            if sent % c.DISPATCH_PROGRESS_EVERY == 0:
                _best_effort(store.note_dispatched, run_id, sent)
                if lock:
                    _best_effort(store.extend_lock, lock)
    if due is not None:
        store.set_run_count(run_id, "checked", due.checked)
    if store.finish_dispatch(run_id, sent):
        return _finish(run_id)
    log.info(
        "%s run %s dispatched %d batches in %.2fs",
        kind.value,
        run_id,
        sent,
        time.monotonic() - dispatch_started,
    )
    raise Ignore()


def _publish_batch(producer: Any) -> contextlib.AbstractContextManager[Any]:
    """Group publishes into one broker round trip per few batches where kombu can
    (kombu >= 5.7 on Redis); elsewhere each publish goes out at once.

    Dispatch waits on the broker once per message otherwise, and on a busy
    Redis that wait, not CPU, is what limits how fast batches reach workers.
    """
    batch = getattr(producer, "batch", None)
    if batch is None:
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[Any], batch(c.DISPATCH_PROGRESS_EVERY))


def _batches(
    store: CacheStore, run_id: str, keys: Callable[[], Iterable[str]]
) -> Iterator[list[str]]:
    """The run's batches; a source that breaks ends them early, said in the summary."""
    size = get_settings().batch_size
    sent = 0
    try:
        for batch in chunked(keys(), size):
            yield batch
            sent += 1
    except _RETRYABLE:
        raise
    except Exception as exc:
        reason = f"listing the keys failed after {sent} batches: {type(exc).__name__}: {exc}"
        log.error("run %s: %s", run_id, reason)
        store.note_dispatch_error(run_id, reason[:300])


def _best_effort(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:
        log.warning("progress not recorded: %s", exc)


# -- batch tasks ---------------------------------------------------------------------


@shared_task(name="warming_tasks.preload_batch", **_batch)
def preload_batch(
    self: Task, run_id: str, index: int, keys: list[str], lock: str = "", outcome: Any = None
) -> dict[str, int]:
    """Load one batch of hot keys and write them."""
    return _run_batch(self, Kind.PRELOAD, run_id, index, keys, lock, outcome)


@shared_task(name="warming_tasks.refresh_batch", **_batch)
def refresh_batch(
    self: Task, run_id: str, index: int, keys: list[str], lock: str = "", outcome: Any = None
) -> dict[str, int]:
    """Reload the keys of one batch that are close to expiry."""
    return _run_batch(self, Kind.REFRESH, run_id, index, keys, lock, outcome)


@shared_task(name="warming_tasks.predictive_batch", **_batch)
def predictive_batch(
    self: Task, run_id: str, index: int, keys: list[str], lock: str = "", outcome: Any = None
) -> dict[str, int]:
    """Load the keys of one ranked batch that are not cached."""
    return _run_batch(self, Kind.PREDICTIVE, run_id, index, keys, lock, outcome)


def _warm(kind: Kind, keys: list[str], lock: str) -> BatchResult:
    if lock and not get_store().extend_lock(lock):
        # Another run holds the lock now: this run's remaining batches stand down.
        return BatchResult({"lock_lost": len(keys)})
    warmer = get_warmer()
    if kind is Kind.PRELOAD:
        return warmer.preload(keys)
    if kind is Kind.REFRESH:
        return warmer.refresh(keys)
    return warmer.predict(keys)


def _failed(keys: list[str], reason: str) -> BatchResult:
    return BatchResult({"failed": len(keys)}, [{"key": "*", "reason": reason[:300]}])


def _run_batch(
    task: Task,
    kind: Kind,
    run_id: str,
    index: int,
    keys: list[str],
    lock: str,
    outcome: dict[str, Any] | None,
) -> dict[str, int]:
    retries = task.request.retries
    if outcome is not None:  # written on an earlier try; only its counting failed
        result = BatchResult.from_outcome(outcome)
    else:
        try:
            result = _warm(kind, keys, lock)
        except CONNECTION_ERRORS as exc:
            if not retryable(exc):
                result = _failed(keys, f"the cache refused us: {type(exc).__name__}: {exc}")
            elif retries < task.max_retries:
                raise task.retry(exc=exc, countdown=backoff_s(retries)) from exc
            else:
                result = _failed(keys, f"cache unreachable after {retries} retries: {exc}")
        except Exception as exc:
            log.exception("%s batch %d of run %s failed", kind.value, index, run_id)
            result = _failed(keys, f"batch failed: {type(exc).__name__}: {exc}")
        _log_errors(kind, run_id, index, result)
    try:
        warmed = (KIND_CODES[kind], result.written, result.sample, result.written_at)
        complete = get_store().finish_batch(
            run_id, index, result.counts, result.errors, lock, warmed
        )
        if complete:
            _send_finish(task, get_store(), run_id)
    except _RETRYABLE as exc:
        if not retryable(exc) and isinstance(exc, CONNECTION_ERRORS):
            raise
        # Counting is idempotent and a re-run resends the finish; keep the outcome
        # so a retry does not warm again (a refresh would then find nothing due).
        if retries < task.max_retries:
            raise task.retry(
                exc=exc, countdown=backoff_s(retries), kwargs={"outcome": result.as_outcome()}
            ) from exc
        raise
    return result.counts


def _log_errors(kind: Kind, run_id: str, index: int, result: BatchResult) -> None:
    for error in result.errors:
        allowed, held = _key_failures.allow()
        if not allowed:
            continue
        if held:
            log.warning("warming-tasks: %d more key failures were not logged", held)
        log.warning(
            "%s run %s batch %d: key %r failed: %s",
            kind.value,
            run_id,
            index,
            error["key"],
            error["reason"],
        )


def _send_finish(task: Task, store: CacheStore, run_id: str) -> None:
    delivery = json.loads(store.run_state(run_id).get("delivery", "{}"))
    task.app.tasks["warming_tasks.finish_run"].apply_async(
        args=(run_id,), task_id=run_id, **_queue(), **delivery
    )


def _queue() -> dict[str, str]:
    """Where follow-up tasks go: WARMING_QUEUE even in an app without our router."""
    queue = warming_queue()
    return {"queue": queue} if queue else {}


# -- the end of a run ----------------------------------------------------------------


@shared_task(
    name="warming_tasks.finish_run",
    acks_late=True,
    autoretry_for=CONNECTION_ERRORS,
    retry_backoff=True,
    max_retries=MAX_RETRIES,
)
def finish_run(run_id: str) -> dict[str, Any]:
    """Write a finished run's summary and history, and release its lock."""
    return _finish(run_id)


def _finish(run_id: str) -> dict[str, Any]:
    store = get_store()
    state = store.run_state(run_id)
    kind = Kind(state.get("kind", Kind.PRELOAD.value))  # the record says what ran
    summary = build_summary(kind, run_id, state, store.run_errors(run_id), time.time())
    _best_effort(store.close_run, run_id, summary)
    if state.get("lock"):
        store.release_lock(state["lock"])
    counts = " ".join(f"{name}={summary[name]}" for name in (*kind.fields, "batches"))
    log.info("%s run %s finished in %.2fs: %s", kind.value, run_id, summary["duration_s"], counts)
    return summary
