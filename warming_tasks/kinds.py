"""What a kind of run is: one table that every per-kind fact comes from, and the
summary a run of that kind returns, built from the counts its batches recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from .settings import Strategy


class Kind(StrEnum):
    """The three kinds of run; each member carries every fact of its kind."""

    entry_task: str  # what callers enqueue
    batch_task: str  # what the entry task fans out
    strategy: Strategy  # the setting that switches it off
    fields: tuple[str, ...]  # the counts its summary always has
    progress_fields: tuple[str, ...]  # the counts that say how many keys it dealt with so far
    considered: tuple[str, ...]  # the counts that add up to the keys it set out to warm
    code: int  # its tag in the accounting of warmed keys (maths.accounting.KIND_SLOTS)

    def __new__(  # noqa: PLR0913, PLR0917 - one argument per fact of the table
        cls,
        name: str,
        entry_task: str,
        batch_task: str,
        strategy: Strategy,
        fields: tuple[str, ...],
        progress_fields: tuple[str, ...],
        considered: tuple[str, ...],
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
        ("loaded", "missing", "failed"),
        ("loaded", "missing", "failed", "superseded", "cancelled"),
        ("loaded", "missing", "failed", "superseded", "cancelled"),
        0,
    )
    REFRESH = (
        "refresh",
        "warming_tasks.refresh",
        "warming_tasks.refresh_batch",
        Strategy.BACKGROUND_REFRESH,
        ("checked", "not_cached", "refreshed", "failed", "skipped_unread", "kept_stale"),
        ("checked",),
        ("due",),
        1,
    )
    PREDICTIVE = (
        "predictive",
        "warming_tasks.predictive_load",
        "warming_tasks.predictive_batch",
        Strategy.PREDICTIVE,
        ("candidates", "loaded", "failed"),
        ("candidates", "already_cached", "failed", "cancelled"),
        ("candidates",),
        2,
    )

    @classmethod
    def named(cls, name: str) -> Kind:
        """The kind that a run record or a summary names."""
        for kind in cls:
            if kind.value == name:
                return kind
        raise ValueError(f"no kind of run is named {name!r}")


# Fields of the run record that are not counts.
_META = frozenset(
    {
        "kind",
        "started_at",
        "finished_at",
        "lock",
        "finish",
        "body_by",
        "body_sent",
        "total",
        "dispatched",
        "batches_done",
        "dispatch_error",
        "counted",
        "recorded",
        "dispatched_at",
        "cancel",
        "stalled",
        "source",
    }
)
# The run record's ``source`` of a run over every source.
ALL_SOURCES = "*"
# A batch counts its source's share of the run under ``<source>|<count>`` too.
BY_SOURCE = "|"
# Every summary has these, 0 in a run that went its course: keys of batches that
# stood down (paused, cancelled), batches that never reported before the run was
# closed as stalled, and keys the guard left alone because the application wrote
# them while the batch loaded them.
ALWAYS_COUNTED = ("cancelled", "lost", "superseded")


def empty_summary(
    kind: Kind, run_id: str | None = None, skipped: str | None = None, source: str | None = None
) -> dict[str, Any]:
    """The summary of a run (of the one source ``source``, or of all) that had
    nothing to do, or did not run (``skipped``)."""
    summary: dict[str, Any] = {"kind": kind.value, "run_id": run_id, "source": source}
    summary |= dict.fromkeys((*kind.fields, *ALWAYS_COUNTED), 0)
    summary |= {"batches": 0, "duration_s": 0.0}
    if skipped is not None:
        summary["skipped"] = skipped
    return summary


def build_summary(
    kind: Kind,
    run_id: str,
    state: Mapping[str, str],
    errors: Sequence[Mapping[str, str]],
    now_s: float,
) -> dict[str, Any]:
    """The summary of a finished run from its record in Redis.

    It depends on the record alone (``finished_at`` is stamped once), so building
    it twice — a redelivered finish — gives the same summary.
    """
    summary = empty_summary(kind, run_id)
    by_source: dict[str, dict[str, int]] = {}
    for name, value in state.items():
        source, sep, count = name.partition(BY_SOURCE)
        if sep:
            by_source.setdefault(source, dict.fromkeys(kind.fields, 0))[count] = int(value)
        elif name not in _META:
            summary[name] = int(value)
    scope = state.get("source", ALL_SOURCES)
    summary["source"] = None if scope == ALL_SOURCES else scope
    if scope == ALL_SOURCES and by_source:
        summary["by_source"] = by_source
    started = float(state.get("started_at", now_s))
    finished = float(state.get("finished_at", now_s))
    summary["batches"] = int(state.get("total", 0))
    summary["duration_s"] = round(max(0.0, finished - started), 3)
    summary["started_at"] = started
    if "dispatched_at" in state:
        summary["dispatch_s"] = round(max(0.0, float(state["dispatched_at"]) - started), 3)
    if errors:
        summary["errors"] = list(errors)
    if "dispatch_error" in state:
        summary["dispatch_error"] = state["dispatch_error"]
    if "stalled" in state:
        summary["stalled"] = True
    if "cancel" in state:
        summary["cancelled_at"] = float(state["cancel"])
    return summary


def outcome(summary: Mapping[str, Any]) -> str:
    """How a run ended, for the run totals: ``skipped``, ``lost`` (closed as stalled),
    ``cancelled``, ``failed`` (some keys or the listing failed) or ``ok``."""
    if "skipped" in summary:
        return "skipped"
    if summary.get("stalled"):
        return "lost"
    if summary.get("cancelled"):
        return "cancelled"
    if summary.get("failed") or "dispatch_error" in summary:
        return "failed"
    return "ok"
