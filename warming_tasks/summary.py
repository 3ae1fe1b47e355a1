"""A run's summary, built from the counts its batches recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from .settings import Strategy


class Kind(StrEnum):
    """The three kinds of run, each with the count fields its summary always has."""

    PRELOAD = "preload"
    REFRESH = "refresh"
    PREDICTIVE = "predictive"

    @property
    def fields(self) -> tuple[str, ...]:
        return _FIELDS[self]

    @property
    def strategy(self) -> Strategy:
        return _STRATEGIES[self]


_FIELDS = {
    Kind.PRELOAD: ("loaded", "missing", "failed"),
    Kind.REFRESH: ("checked", "refreshed", "failed"),
    Kind.PREDICTIVE: ("candidates", "loaded", "failed"),
}
_STRATEGIES = {
    Kind.PRELOAD: Strategy.PRELOAD,
    Kind.REFRESH: Strategy.BACKGROUND_REFRESH,
    Kind.PREDICTIVE: Strategy.PREDICTIVE,
}
# Fields of the run record that are not counts.
_META = frozenset(
    {
        "kind",
        "started_at",
        "finished_at",
        "lock",
        "delivery",
        "total",
        "dispatched",
        "batches_done",
        "dispatch_error",
        "counted",
        "recorded",
        "dispatched_at",
    }
)


def empty_summary(
    kind: Kind, run_id: str | None = None, skipped: str | None = None
) -> dict[str, Any]:
    """The summary of a run that had nothing to do, or did not run (``skipped``)."""
    summary: dict[str, Any] = {"kind": kind.value, "run_id": run_id}
    summary |= dict.fromkeys(kind.fields, 0)
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
    for name, value in state.items():
        if name not in _META:
            summary[name] = int(value)
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
    return summary
