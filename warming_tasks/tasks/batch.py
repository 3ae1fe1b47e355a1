"""The batch tasks a run fans out: each warms its keys once and counts itself in."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task

from ..errors import SourceUnavailable
from ..kinds import Kind
from ..maths.throttle import Throttle
from ..records import Count, count_field
from ..retries import MAX_RETRIES, REFUSED, TRANSIENT, backoff_s
from ..runtime import get_store, get_warmer
from ..settings import DEFAULT_SOURCE
from ..warmer import BatchResult, RetryOutcome, StaleKept
from .fanout import send_body

log = logging.getLogger(__name__)

# Per-key failures are logged one line each, but no more than this per minute and
# process: a source that fails every key must not flood the worker log.
_key_failures = Throttle(limit=20, period_s=60)
# Batches count themselves into the run's record: their own results are never read.
_batch: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": MAX_RETRIES,
    "ignore_result": True,
}


@shared_task(name=Kind.PRELOAD.batch_task, **_batch)
def preload_batch(  # noqa: PLR0913, PLR0917 - the batch message format
    self: Task,
    run_id: str,
    index: int,
    keys: list[str],
    lock: str = "",
    outcome: Any = None,
    source: str | None = None,
) -> dict[str, int]:
    """Load one batch of hot keys of ``source`` (None: the first) and write them."""
    return _run_batch(self, Kind.PRELOAD, run_id, index, keys, lock, outcome, source)


@shared_task(name=Kind.REFRESH.batch_task, **_batch)
def refresh_batch(  # noqa: PLR0913, PLR0917 - the batch message format
    self: Task,
    run_id: str,
    index: int,
    keys: list[str],
    lock: str = "",
    outcome: Any = None,
    kept: list[str] | None = None,
    source: str | None = None,
) -> dict[str, int]:
    """Reload the keys of one batch that are close to expiry (``kept``: the keys
    its earlier tries kept past expiry while the source was down)."""
    return _run_batch(self, Kind.REFRESH, run_id, index, keys, lock, outcome, source)


@shared_task(name=Kind.PREDICTIVE.batch_task, **_batch)
def predictive_batch(  # noqa: PLR0913, PLR0917 - the batch message format
    self: Task,
    run_id: str,
    index: int,
    keys: list[str],
    lock: str = "",
    outcome: Any = None,
    source: str | None = None,
) -> dict[str, int]:
    """Load the keys of one ranked batch that are not cached."""
    return _run_batch(self, Kind.PREDICTIVE, run_id, index, keys, lock, outcome, source)


def _warm(  # noqa: PLR0913, PLR0917 - a batch, and what its earlier tries left
    kind: Kind,
    run_id: str,
    keys: list[str],
    lock: str,
    final: bool,
    kept: list[str],
    source: str | None,
) -> BatchResult:
    if get_store().stand_down(run_id):
        # Paused, cancelled, or closed as stalled: the source is not called, and
        # the keys count as cancelled (nowhere, for a closed run).
        return BatchResult({Count.CANCELLED: len(keys)})
    if lock and not get_store().extend_lock(lock, source or DEFAULT_SOURCE):
        # Another run holds the lock now: this run's remaining batches stand down.
        return BatchResult({Count.LOCK_LOST: len(keys)})
    warmer = get_warmer(source)
    if warmer.pace(len(keys)) > 0 and get_store().stand_down(run_id):
        # Paused or cancelled while this batch waited for the source budget.
        return BatchResult({Count.CANCELLED: len(keys)})
    if kind is Kind.PRELOAD:
        return warmer.preload(keys)
    if kind is Kind.REFRESH:
        # The keys earlier tries kept stale, counted by the try that reports.
        return warmer.refresh(keys, final, kept)
    return warmer.predict(keys)


def _failed(keys: list[str], reason: str) -> BatchResult:
    return BatchResult({Count.FAILED: len(keys)}, errors=[{"key": "*", "reason": reason[:300]}])


def _run_batch(  # noqa: PLR0913, PLR0917 - the batch message format, and its kind
    task: Task,
    kind: Kind,
    run_id: str,
    index: int,
    keys: list[str],
    lock: str,
    outcome: RetryOutcome | None,
    source: str | None,
    work: Callable[[], BatchResult] | None = None,
) -> dict[str, int]:
    """Run one batch (``work``: what it does, where that is not the source's warming:
    a copy's) and count it into its run, retrying what an outage interrupted."""
    retries = task.request.retries
    if outcome is not None:  # written on an earlier try; only its counting failed
        result = BatchResult.from_outcome(outcome)
    else:
        try:
            kept = list((task.request.kwargs or {}).get("kept") or [])
            final = retries >= task.max_retries
            result = work() if work else _warm(kind, run_id, keys, lock, final, kept, source)
        except REFUSED as exc:
            result = _failed(keys, f"the cache refused us: {type(exc).__name__}: {exc}")
        except TRANSIENT as exc:
            if retries < task.max_retries:
                kwargs = dict(task.request.kwargs or {})
                if isinstance(exc, StaleKept):
                    kwargs["kept"] = exc.kept
                raise task.retry(exc=exc, countdown=backoff_s(retries), kwargs=kwargs) from exc
            what = "source" if isinstance(exc, SourceUnavailable) else "cache"
            result = _failed(keys, f"{what} unreachable after {retries} retries: {exc}")
        except Exception as exc:
            log.exception("%s batch %d of run %s failed", kind.value, index, run_id)
            result = _failed(keys, f"batch failed: {type(exc).__name__}: {exc}")
        _log_errors(kind, run_id, index, result)
    try:
        store = get_store()
        counts = result.counts
        if source is not None:  # its source's share, for a run over several
            counts = counts | {count_field(k, source): v for k, v in counts.items()}
        warmed, named = result.warmed(kind.code), source or DEFAULT_SOURCE
        if store.finish_batch(run_id, index, counts, result.errors, lock, warmed, named):
            send_body(task, store, run_id)
    except REFUSED:
        raise
    except TRANSIENT as exc:
        # Counting is idempotent and a re-run resends the body; keep the outcome so
        # a retry does not warm again (a refresh would then find nothing due).
        if retries < task.max_retries:
            kwargs = {**(task.request.kwargs or {}), "outcome": result.as_outcome()}
            raise task.retry(exc=exc, countdown=backoff_s(retries), kwargs=kwargs) from exc
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
