"""A run is a streaming chord.

The entry task streams the run's batches to the workers, one ``celery.group``
per window of ``DISPATCH_WINDOW`` batches sent through one producer, so a source
of ten million hot keys costs the dispatcher no more memory than one of a
thousand. There is no chord counter in the result backend: each batch counts
itself into the run's record in Redis exactly once, however often it is
delivered (``store.finish_batch``), and the batch that completes the run sends
the run's body, ``finish_run``, which writes and returns the summary.

The body is built by Celery's own ``Task.replace``: it takes the entry task's
id, its links and error links, the rest of its chain and its place in a chord
or group. Only the sending is deferred (``RunEntry.on_replace``): the body is
kept in the run's record and sent by the last batch. So ``AsyncResult(entry
id).get()`` returns the summary, and ``chain(preload.s(), next_task.s())`` hands
it to ``next_task``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, cast

from celery import Signature, Task, group
from celery.exceptions import Ignore

from .. import constants as c
from ..kinds import ALWAYS_COUNTED, Kind, build_summary, outcome
from ..maths.batching import chunked
from ..records import ALL_SOURCES, BodyBy, Count, Meta, lock_field
from ..retries import TRANSIENT
from ..routing import warming_queue
from ..runtime import get_store
from ..settings import DEFAULT_SOURCE
from ..store import CacheStore
from ..warmer import DueKeys

log = logging.getLogger(__name__)

FINISH_TASK = "warming_tasks.finish_run"


class RunEntry(Task):  # type: ignore[misc]  # Celery's classes are untyped
    """Base of the entry tasks: ``replace`` builds the run's body without sending it."""

    def on_replace(self, sig: Signature) -> Signature:
        # Celery's hook would send the replacement now and end the task; a run's
        # body must wait for the run's last batch, which sends it (send_body).
        return sig


def queue_options() -> dict[str, str]:
    """Where follow-up tasks go: WARMING_QUEUE even in an app without our router."""
    queue = warming_queue()
    return {"queue": queue} if queue else {}


class Part(NamedTuple):
    """The keys of one source in a run, batched by that source's batch size, and the
    refresh lock its batches keep (none for the other kinds); ``options``: keyword
    arguments every batch of it takes (a copy's: where from, and how)."""

    source: str
    keys: Callable[[], Iterable[str]]
    batch_size: int
    lock: str = ""
    options: Mapping[str, Any] | None = None


def dispatch(  # noqa: PLR0913, PLR0917 - what a run is made of
    task: Task,
    kind: Kind,
    run_id: str,
    parts: Sequence[Part],
    scope: str | None = None,
    dues: Mapping[str, DueKeys] | None = None,
    facts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Send the run's batches, source after source (``scope``: the one source the run
    was asked for, None for all); the summary at once if every batch already
    finished, else ``Ignore`` (the last batch sends the body that returns it).
    ``facts``: more of the record's Meta fields, written when it opens (a copy's)."""
    store = get_store()
    record = store.run_record(run_id)
    if record.total is not None or record.finished_at is not None:
        # A redelivered dispatcher whose run was fully sent, or closed as stalled:
        # never send it twice. Its own result is the run's body only when every
        # batch finished before dispatch did; otherwise a batch (or the closer of
        # stalled runs) sends the body.
        if record.body_by == BodyBy.DISPATCH:
            return finish(run_id)
        raise Ignore()
    body = task.replace(task.app.signature(FINISH_TASK, args=(run_id,), **queue_options()))
    # Named sources (WARMING_SOURCES) are written in the record; the one source of
    # WARMING_SOURCE keeps the record it always had (a worker not yet upgraded reads it).
    named = any(part.source != DEFAULT_SOURCE for part in parts)
    locks = {part.source: part.lock for part in parts if part.lock}
    fields: dict[str, str | float] = {
        Meta.KIND: kind.value,
        Meta.STARTED_AT: time.time(),
        Meta.LOCK: lock_field(locks, named),
        Meta.FINISH: json.dumps(dict(body)),
    }
    if named:
        fields[Meta.SOURCE] = scope or ALL_SOURCES
    fields |= facts or {}
    store.start_run(run_id, fields)
    started = time.monotonic()
    sent = _send_batches(task, kind, store, run_id, parts)
    if dues is not None:
        _count_due(store, run_id, dues, named)
    if store.finish_dispatch(run_id, sent):
        # Every batch finished before the count was known: no batch sent the body,
        # and this task's own return goes on to its links and chain.
        return finish(run_id)
    log.info(
        "%s run %s dispatched %d batches in %.2fs",
        kind.value,
        run_id,
        sent,
        time.monotonic() - started,
    )
    raise Ignore()


def _count_due(store: CacheStore, run_id: str, dues: Mapping[str, DueKeys], named: bool) -> None:
    """A refresh's probe counts, the run's and (named sources) each source's share."""
    probed = {source: due.counts() for source, due in dues.items()}
    for count in (Count.CHECKED, Count.NOT_CACHED, Count.SKIPPED_UNREAD):
        store.set_run_count(run_id, count, sum(counts[count] for counts in probed.values()))
        for source, counts in probed.items() if named else ():
            store.set_run_count(run_id, count, counts[count], source)


def _send_batches(
    task: Task, kind: Kind, store: CacheStore, run_id: str, parts: Sequence[Part]
) -> int:
    """Send the batches a group per window; how many were sent."""
    batch_task = task.app.tasks[kind.batch_task]
    route = queue_options()
    sent = 0
    batches = enumerate(_batches(store, run_id, parts))
    with task.app.producer_or_acquire() as producer, _publish_batch(producer):
        for window in chunked(batches, c.DISPATCH_WINDOW):
            signatures = [
                batch_task.signature(
                    (run_id, index, batch, part.lock),
                    _source_kwargs(part.source) | dict(part.options or {}),
                    argsrepr=f"(run={run_id}, batch={index}, keys={len(batch)})",
                    **route,
                )
                for index, (part, batch) in window
            ]
            # Not added to the entry task's children: memory would grow with the
            # key count, for results nobody reads (the batches ignore theirs).
            group(signatures, app=task.app).apply_async(producer=producer, add_to_parent=False)
            sent += len(window)
            best_effort(store.note_dispatched, run_id, sent)
            for part in parts:  # every lock of the run, a later source's too
                if part.lock:
                    best_effort(store.extend_lock, part.lock, part.source)
    return sent


def _source_kwargs(source: str) -> dict[str, str]:
    """A batch's source, where there are named sources: the one source of
    ``WARMING_SOURCE`` sends batches as it always did (a worker not yet upgraded
    takes them), and counts no share of its own."""
    return {} if source == DEFAULT_SOURCE else {"source": source}


def _publish_batch(producer: Any) -> contextlib.AbstractContextManager[Any]:
    """Group publishes into one broker round trip per window where kombu can
    (kombu >= 5.7 on Redis); elsewhere each publish goes out at once.

    Dispatch waits on the broker once per message otherwise, and on a busy
    Redis that wait, not CPU, is what limits how fast batches reach workers.
    """
    batch = getattr(producer, "batch", None)
    if batch is None:
        return contextlib.nullcontext()
    return cast(contextlib.AbstractContextManager[Any], batch(c.DISPATCH_WINDOW))


def _batches(
    store: CacheStore, run_id: str, parts: Sequence[Part]
) -> Iterator[tuple[Part, list[str]]]:
    """The run's batches, source after source; a source that breaks ends the run's
    batches early, said in the summary."""
    sent = 0
    for part in parts:
        try:
            for batch in chunked(part.keys(), part.batch_size):
                yield part, batch
                sent += 1
        except TRANSIENT:
            raise  # the entry task retries: dispatch is idempotent
        except Exception as exc:
            reason = f"listing the keys failed after {sent} batches: {type(exc).__name__}: {exc}"
            if len(parts) > 1:
                reason = f"source {part.source}: {reason}"
            log.error("run %s: %s", run_id, reason)
            store.note_dispatch_error(run_id, reason[:300])  # the other sources go on


def best_effort(call: Callable[..., Any], *args: Any) -> None:
    try:
        call(*args)
    except Exception as exc:
        log.warning("progress not recorded: %s", exc)


def send_body(task: Task, store: CacheStore, run_id: str) -> None:
    """Send the run's body, as ``Task.replace`` built it when the run started."""
    task.app.signature(store.run_record(run_id).body()).apply_async()
    store.note_body_sent(run_id)


def finish(run_id: str) -> dict[str, Any]:
    """Write a finished run's summary and history, and release its lock."""
    store = get_store()
    record = store.run_record(run_id)
    kind = Kind.named(record.kind or Kind.PRELOAD.value)  # the record says what ran
    if record.unknown:
        log.warning("run %s: fields left out of its summary, unknown: %s", run_id, record.unknown)
    summary = build_summary(kind, run_id, record, store.run_errors(run_id), time.time())
    best_effort(store.close_run, run_id, summary, outcome(summary))
    if kind is Kind.COPY:
        # The other server's URL was kept for the run's batches alone.
        best_effort(store.forget_copy_from, run_id)
    for source, lock in record.locks.items():
        store.release_lock(lock, source)
    shown = (*kind.fields, *(name for name in ALWAYS_COUNTED if summary[name]), "batches")
    counts = " ".join(f"{name}={summary[name]}" for name in shown)
    log.info("%s run %s finished in %.2fs: %s", kind.value, run_id, summary["duration_s"], counts)
    return summary
