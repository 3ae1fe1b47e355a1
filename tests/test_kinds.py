"""``kinds``: the summary each kind of run returns, what stays out of it, and the
outcome a run is counted under."""

from __future__ import annotations

import pytest

from warming_tasks.kinds import Kind, build_summary, empty_summary, outcome
from warming_tasks.maths.accounting import KIND_SLOTS


def test_summaries_carry_the_contract_fields() -> None:
    assert empty_summary(Kind.REFRESH, "r1", skipped="off") == {
        "kind": "refresh",
        "run_id": "r1",
        "source": None,
        "checked": 0,
        "not_cached": 0,
        "refreshed": 0,
        "failed": 0,
        "skipped_unread": 0,
        "kept_stale": 0,
        "cancelled": 0,
        "lost": 0,
        "superseded": 0,
        "batches": 0,
        "duration_s": 0.0,
        "skipped": "off",
    }
    state = {
        "kind": "preload",
        "started_at": "100.0",
        "total": "3",
        "loaded": "250",
        "failed": "1",
        "lock": "",
        "finish": "{}",
        "batches_done": "3",
    }
    errors = [{"key": "k", "reason": "boom"}]
    summary = build_summary(Kind.PRELOAD, "r2", state, errors, now_s=102.5)
    assert summary["loaded"] == 250
    assert summary["missing"] == 0
    assert summary["failed"] == 1
    assert summary["batches"] == 3
    assert summary["duration_s"] == 2.5
    assert summary["errors"] == errors


def test_bookkeeping_fields_stay_out_of_the_summary() -> None:
    state = {
        "kind": "refresh",
        "started_at": "1.0",
        "finished_at": "2.0",
        "total": "1",
        "counted": "1",
        "recorded": "1",
        "dispatched": "1",
        "batches_done": "1",
        "lock": "r",
        "finish": "{}",
        "checked": "5",
        "refreshed": "2",
    }
    summary = build_summary(Kind.REFRESH, "r", state, [], now_s=99.0)
    assert set(summary) == {
        "kind",
        "run_id",
        "source",
        "checked",
        "not_cached",
        "refreshed",
        "failed",
        "skipped_unread",
        "kept_stale",
        "cancelled",
        "lost",
        "superseded",
        "batches",
        "duration_s",
        "started_at",
    }
    assert summary["duration_s"] == 1.0, "from the stamped finish, not from now"


def test_every_kind_code_fits_the_sample_score() -> None:
    assert sorted(kind.code for kind in Kind) == list(range(len(Kind)))
    assert len(Kind) <= KIND_SLOTS


@pytest.mark.parametrize(
    ("summary", "expected"),
    [
        ({"loaded": 5, "failed": 0, "cancelled": 0, "lost": 0}, "ok"),
        ({"loaded": 5, "failed": 1, "cancelled": 0, "lost": 0}, "failed"),
        ({"loaded": 5, "failed": 0, "dispatch_error": "listing failed"}, "failed"),
        ({"loaded": 5, "failed": 1, "cancelled": 3, "lost": 0}, "cancelled"),
        ({"loaded": 5, "failed": 1, "cancelled": 3, "lost": 1, "stalled": True}, "lost"),
        ({"loaded": 0, "skipped": "warming is paused"}, "skipped"),
    ],
)
def test_a_run_s_outcome_names_the_worst_that_happened(
    summary: dict[str, object], expected: str
) -> None:
    assert outcome(summary) == expected
