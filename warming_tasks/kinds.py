"""What a kind of run is: one table that every per-kind fact comes from, and the
summary a run of that kind returns, built from the counts its batches recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from .records import Count, Outcome, RunRecord
from .settings import Strategy

# What each copy batch counts (every one written, 0 where none, so the record has
# every field).
COPY_BATCH_COUNTS = (
    Count.COPIED,
    Count.SKIPPED_EXISTING,
    Count.EXPIRED,
    Count.FAILED,
    Count.SKIPPED_PERSISTENT,
    Count.SKIPPED_LARGE,
)
# What a copy's keys come to: its progress and the keys it considered.
_COPY_DEALT_WITH = (*COPY_BATCH_COUNTS, Count.MISSING, Count.CANCELLED)


class Kind(StrEnum):
    """The kinds of run; each member carries every fact of its kind."""

    entry_task: str  # what callers enqueue
    batch_task: str  # what the entry task fans out
    # The setting that switches it off; None: no strategy does (only a pause stops it).
    strategy: Strategy | None
    fields: tuple[Count, ...]  # the counts its summary always has
    progress_fields: tuple[Count, ...]  # the counts that say how many keys it dealt with so far
    considered: tuple[Count, ...]  # the counts that add up to the keys it set out to warm
    code: int  # its tag in the accounting of warmed keys (maths.accounting.KIND_SLOTS)

    def __new__(  # noqa: PLR0913, PLR0917 - one argument per fact of the table
        cls,
        name: str,
        entry_task: str,
        batch_task: str,
        strategy: Strategy | None,
        fields: tuple[Count, ...],
        progress_fields: tuple[Count, ...],
        considered: tuple[Count, ...],
        code: int,
    ) -> Kind:
        member = str.__new__(cls, name)
        member._value_ = name
        member.entry_task, member.batch_task, member.strategy = entry_task, batch_task, strategy
        member.fields, member.progress_fields, member.code = fields, progress_fields, code
        member.considered = considered
        return member

    PRELOAD = (
        "preload",
        "warming_tasks.preload",
        "warming_tasks.preload_batch",
        Strategy.PRELOAD,
        (Count.LOADED, Count.MISSING, Count.FAILED),
        (Count.LOADED, Count.MISSING, Count.FAILED, Count.SUPERSEDED, Count.CANCELLED),
        (Count.LOADED, Count.MISSING, Count.FAILED, Count.SUPERSEDED, Count.CANCELLED),
        0,
    )
    REFRESH = (
        "refresh",
        "warming_tasks.refresh",
        "warming_tasks.refresh_batch",
        Strategy.BACKGROUND_REFRESH,
        (
            Count.CHECKED,
            Count.NOT_CACHED,
            Count.REFRESHED,
            Count.FAILED,
            Count.SKIPPED_UNREAD,
            Count.KEPT_STALE,
        ),
        (Count.CHECKED,),
        (Count.DUE,),
        1,
    )
    PREDICTIVE = (
        "predictive",
        "warming_tasks.predictive_load",
        "warming_tasks.predictive_batch",
        Strategy.PREDICTIVE,
        (Count.CANDIDATES, Count.LOADED, Count.FAILED),
        (Count.CANDIDATES, Count.ALREADY_CACHED, Count.FAILED, Count.CANCELLED),
        (Count.CANDIDATES,),
        2,
    )
    # A copy from another Redis (``warming-tasks copy --from URL``) is an operator's
    # one-off after a failover, a resize or a new region, and it never calls the data
    # source: WARMING_STRATEGY, which says which ways of loading from the source run,
    # does not switch it off; a pause stands it down like any run.
    COPY = (
        "copy",
        "warming_tasks.copy",
        "warming_tasks.copy_batch",
        None,
        (*COPY_BATCH_COUNTS, Count.MISSING, Count.RANKED),
        _COPY_DEALT_WITH,
        _COPY_DEALT_WITH,
        3,
    )

    @property
    def uses_source(self) -> bool:
        """Whether its runs load from the data source (a copy reads another Redis)."""
        return self is not Kind.COPY

    @classmethod
    def named(cls, name: str) -> Kind:
        """The kind that a run record or a summary names."""
        for kind in cls:
            if kind.value == name:
                return kind
        raise ValueError(f"no kind of run is named {name!r}")


# Every summary has these, 0 in a run that went its course: keys of batches that
# stood down (paused, cancelled), batches that never reported before the run was
# closed as stalled, and keys the guard left alone because the application wrote
# them while the batch loaded them.
ALWAYS_COUNTED = (Count.CANCELLED, Count.LOST, Count.SUPERSEDED)


def empty_summary(
    kind: Kind, run_id: str | None = None, skipped: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """The summary of a run (of the one source ``source``, or of all) that had
    nothing to do, or did not run (``skipped``)."""
    summary: dict[str, Any] = {"kind": kind.value, "run_id": run_id, "source": source}
    summary |= dict.fromkeys(_names((*kind.fields, *ALWAYS_COUNTED)), 0)
    summary |= {"batches": 0, "duration_s": 0.0}
    if skipped is not None:
        summary["skipped"] = skipped
    return summary


def build_summary(
    kind: Kind,
    run_id: str,
    state: RunRecord | Mapping[str, str],
    errors: Sequence[Mapping[str, str]],
    now_s: float,
) -> dict[str, Any]:
    """The summary of a finished run from its record in Redis (as read, or parsed).

    It depends on the record alone (``finished_at`` is stamped once), so building
    it twice — a redelivered finish — gives the same summary.
    """
    record = state if isinstance(state, RunRecord) else RunRecord.parse(state)
    summary = empty_summary(kind, run_id, source=record.scope)
    summary |= _named(record.counts)
    if record.scope is None and record.by_source:
        summary["by_source"] = {
            source: dict.fromkeys(_names(kind.fields), 0) | _named(counts)
            for source, counts in record.by_source.items()
        }
    started = now_s if record.started_at is None else record.started_at
    finished = now_s if record.finished_at is None else record.finished_at
    summary["batches"] = record.total or 0
    summary["duration_s"] = round(max(0.0, finished - started), 3)
    summary["started_at"] = started
    if record.dispatched_at is not None:
        summary["dispatch_s"] = round(max(0.0, record.dispatched_at - started), 3)
    if errors:
        summary["errors"] = list(errors)
    if record.dispatch_error is not None:
        summary["dispatch_error"] = record.dispatch_error
    if record.stalled_at is not None:
        summary["stalled"] = True
    if record.cancelled_at is not None:
        summary["cancelled_at"] = record.cancelled_at
    # A copy's: where from (password masked), how values moved, how keys were listed.
    for name, value in (
        ("from", record.copy_from),
        ("method", record.method),
        ("listing", record.listing),
    ):
        if value is not None:
            summary[name] = value
    return summary


def _names(counts: Sequence[Count]) -> list[str]:
    """Counts as a summary names them: plain text, as JSON gives them back."""
    return [count.value for count in counts]


def _named(counts: Mapping[Count, int]) -> dict[str, int]:
    return {count.value: value for count, value in counts.items()}


def outcome(summary: Mapping[str, Any]) -> Outcome:
    """How a run ended, for the run totals: ``skipped``, ``lost`` (closed as stalled),
    ``cancelled``, ``failed`` (some keys or the listing failed) or ``ok``."""
    if "skipped" in summary:
        return Outcome.SKIPPED
    if summary.get("stalled"):
        return Outcome.LOST
    if summary.get("cancelled"):
        return Outcome.CANCELLED
    if summary.get("failed") or "dispatch_error" in summary:
        return Outcome.FAILED
    return Outcome.OK
