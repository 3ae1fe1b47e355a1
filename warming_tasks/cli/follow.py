"""Enqueue a run and follow it to its summary, with progress read from the run's record."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import WarmingError
from ..kinds import Kind
from ..ops.agreement import CONTROL_COMMAND, disagreement, said
from ..records import RunRecord
from ..routing import warming_queue
from ..store import CacheStore
from .console import err, fail

POLL_S = 0.2
CONSUMER_REPLY_S = 1.0  # how long workers have to answer an inspect broadcast
CONSUMER_WAIT_S = 8.0  # how long a missing worker has to appear before the CLI gives up
VANISHED_GRACE_S = 2.0  # how long a summary has to arrive once the run's record is gone


class RunTimeout(Exception):
    """The run did not finish within the time the caller would wait."""


class RunFailed(Exception):
    """The run itself raised: its exception, as the result backend stored it."""


class RunVanished(Exception):
    """The run's record left the cache Redis while the run had not reported."""


@dataclass(frozen=True)
class RunProgress:
    """A run seen from outside: batches done of sent, keys dealt with, time elapsed."""

    batches_done: int
    batches_sent: int
    dispatch_finished: bool
    keys: int
    elapsed_s: float

    @property
    def keys_per_s(self) -> float:
        return self.keys / self.elapsed_s if self.elapsed_s > 0 else 0.0


def progress_of(kind: Kind, record: RunRecord, elapsed_s: float) -> RunProgress:
    return RunProgress(
        batches_done=record.batches_done,
        batches_sent=record.sent,
        dispatch_finished=record.total is not None,
        keys=sum(record.counts.get(count, 0) for count in kind.progress_fields),
        elapsed_s=elapsed_s,
    )


def run_queue(app: Celery) -> str:
    """The queue a run's entry task goes to: WARMING_QUEUE, else Celery's default."""
    return warming_queue() or str(app.conf.task_default_queue)


def consumers(app: Celery, queue: str, reply_s: float = CONSUMER_REPLY_S) -> list[str]:
    """The live workers that consume ``queue``, as far as they answer (Celery's
    inspect API).

    The first answer is usually enough (one worker, one queue) and comes at once;
    only when it does not name the queue are all workers asked, for ``reply_s``."""
    for limit in (1, None):
        replies = app.control.inspect(timeout=reply_s, limit=limit).active_queues() or {}
        names = [
            worker
            for worker, queues in replies.items()
            if any(q.get("name") == queue for q in queues or [])
        ]
        if names or not replies:
            return names
    return []


def await_consumers(app: Celery, queue: str, within_s: float = CONSUMER_WAIT_S) -> list[str]:
    """The workers that consume ``queue`` now, or start to within ``within_s``."""
    deadline = time.monotonic() + within_s
    while True:
        names = consumers(app, queue)
        if names or time.monotonic() >= deadline:
            return names


def disagreeing(app: Celery, workers: list[str], mine: dict[str, Any]) -> str | None:
    """One line naming a worker that writes elsewhere, or otherwise, than this
    process would; None when they all agree (or do not say: an older version)."""
    answers = app.control.broadcast(
        CONTROL_COMMAND,
        reply=True,
        timeout=CONSUMER_REPLY_S,
        destination=workers,
        limit=len(workers),
    )
    for answer in answers or []:
        for worker, theirs in answer.items():
            if isinstance(theirs, dict) and "where" in theirs and disagreement(mine, theirs):
                return (
                    f"the worker {worker} writes to {said(theirs)}, this command to "
                    f"{said(mine)}: give every process the same settings"
                )
    return None


def enqueue(
    app: Celery, kind: Kind, kwargs: dict[str, Any] | None = None, task_id: str | None = None
) -> AsyncResult:
    """Send the run's entry task (``task_id``: the run's id, where the caller chose it)."""
    policy = {"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1}
    return app.send_task(
        kind.entry_task, kwargs=kwargs or {}, task_id=task_id, retry=True, retry_policy=policy
    )


def wait(
    result: AsyncResult,
    kind: Kind,
    store: CacheStore,
    timeout_s: float,
    on_progress: Callable[[RunProgress], None] | None = None,
) -> dict[str, Any]:
    """Poll until the run's summary arrives; RunTimeout after ``timeout_s``,
    RunVanished as soon as the run's record is gone from the cache Redis."""
    started = time.monotonic()
    seen = False
    while not result.ready():
        elapsed = time.monotonic() - started
        if elapsed > timeout_s:
            raise RunTimeout(
                f"no summary after {timeout_s:g} s; the run goes on in the workers "
                f"(task id {result.id})"
            )
        record = _record(store, result.id)
        # The start is written when the record opens, never after.
        if record is not None and record.started_at is not None:
            seen = True
            if on_progress is not None:
                # Progress is best-effort; the summary is what matters.
                with contextlib.suppress(Exception):
                    on_progress(progress_of(kind, record, elapsed))
        # Gone once seen, or made anew by the counts of batches still running (no
        # start in it): the run will never finish.
        elif (
            record is not None
            and (seen or record.exists)
            and not _reports_within(result, VANISHED_GRACE_S)
        ):
            raise RunVanished(
                "the run's record is gone from the cache Redis (restarted without "
                "persistence, or flushed): its batches cannot report, so it will never "
                f"finish; its keys may be partly warmed (task id {result.id})"
            )
        time.sleep(POLL_S)
    outcome = result.get(timeout=max(1.0, timeout_s), propagate=False)
    if result.failed():
        # The run's own error, not ours: keep it apart from losing the backend.
        raise RunFailed(f"{type(outcome).__name__}: {outcome}")
    summary: dict[str, Any] = outcome
    return summary


def _record(store: CacheStore, run_id: str) -> RunRecord | None:
    """The run's record; None when the cache Redis does not answer (it may be
    restarting: that alone says nothing of the record)."""
    try:
        return store.run_record(run_id)
    except redis.RedisError:
        return None


def _reports_within(result: AsyncResult, grace_s: float) -> bool:
    """Whether the run's summary arrives within ``grace_s``: a record may leave
    the cache just as the summary is stored."""
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if result.ready():
            return True
        time.sleep(POLL_S)
    return bool(result.ready())


def follow(result: Any, kind: Kind, store: CacheStore, timeout: float, show_progress: bool) -> Any:
    """Wait for a run's summary, drawing its progress on stderr."""
    columns = (
        TextColumn(f"{kind.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    # A bar is for a person at a terminal; in a pipe or a log it would only add noise.
    live = show_progress and err.is_terminal
    with Progress(*columns, console=err, transient=True, disable=not live) as bar:
        task = bar.add_task(kind.value, total=None, rate="")

        def update(p: RunProgress) -> None:
            bar.update(
                task,
                completed=p.batches_done,
                total=p.batches_sent if p.dispatch_finished else None,
                rate=f"{p.keys_per_s:,.0f} keys/s",
            )

        try:
            return wait(result, kind, store, timeout, update)
        except RunTimeout as exc:
            fail(str(exc))
        except RunFailed as exc:
            fail(f"the run failed: {exc}")
        except RunVanished as exc:
            fail(str(exc))
        except (OperationalError, redis.ConnectionError) as exc:
            fail(f"lost the result backend while waiting: {exc}")
        except WarmingError:
            raise
        except Exception as exc:
            fail(f"the run failed: {type(exc).__name__}: {exc}")
