"""``ops.metrics``: the Prometheus series made from the suite's records, without a server."""

from __future__ import annotations

from warming_tasks.ops.metrics import series
from warming_tasks.store import Snapshot


def test_metrics_come_from_the_records_and_name_no_key() -> None:
    snap = Snapshot(
        account={"warmed:0": 3000, "failed:0": 7, "read:0": 30, "expired:0": 10, "warmed:1": 5},
        totals={
            "runs:preload:ok": 2,
            "runs:refresh:skipped": 4,
            "finished_at:preload": 1_700_000_000.5,
            "succeeded_at:preload": 1_699_999_000.0,
            "finished_at:refresh": 1_700_000_100.0,
            "duration_s:preload": 1.25,
            "duration_s:refresh": 2.0,
            # A refresh of the source "users" alone (beat's, under WARMING_SOURCES).
            "runs:refresh:ok@users": 3,
            "finished_at:refresh@users": 1_700_000_200.0,
            "succeeded_at:refresh@users": 1_700_000_200.0,
            "duration_s:refresh@users": 0.5,
        },
        hits=90,
        misses=10,
        tracked_keys=12,
        open_runs=1,
        paused=True,
    )
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in series(snap)
        for s in family.samples
    }
    assert samples[("warming_keys_warmed_total", (("strategy", "preload"),))] == 3000
    assert samples[("warming_keys_warmed_total", (("strategy", "refresh"),))] == 5
    assert samples[("warming_keys_failed_total", (("strategy", "preload"),))] == 7
    assert samples[("warming_read_before_expiry_ratio", (("strategy", "preload"),))] == 0.75
    assert ("warming_read_before_expiry_ratio", (("strategy", "refresh"),)) not in samples

    def runs(kind: str, outcome: str, source: str = "all") -> float:
        labels = (("kind", kind), ("outcome", outcome), ("source", source))
        return samples[("warming_runs_total", labels)]

    assert runs("preload", "ok") == 2
    assert runs("refresh", "skipped") == 4
    assert runs("refresh", "lost") == 0
    assert runs("refresh", "ok", "users") == 3
    assert (
        "warming_runs_total",
        (("kind", "refresh"), ("outcome", "lost"), ("source", "users")),
    ) not in samples
    kind = (("kind", "preload"), ("source", "all"))
    assert samples[("warming_last_run_finished_timestamp_seconds", kind)] == 1_700_000_000.5
    assert samples[("warming_run_duration_seconds", kind)] == 1.25
    assert samples[("warming_last_success_timestamp_seconds", kind)] == 1_699_999_000.0
    # A refresh of every source has ended but none succeeded: no success to date it by.
    refresh = (("kind", "refresh"), ("source", "all"))
    assert samples[("warming_last_run_finished_timestamp_seconds", refresh)] == 1_700_000_100.0
    assert ("warming_last_success_timestamp_seconds", refresh) not in samples
    users = (("kind", "refresh"), ("source", "users"))
    assert samples[("warming_last_success_timestamp_seconds", users)] == 1_700_000_200.0
    assert samples[("warming_run_duration_seconds", users)] == 0.5
    assert (
        "warming_run_duration_seconds",
        (("kind", "predictive"), ("source", "all")),
    ) not in samples
    assert samples[("warming_cache_hit_ratio", ())] == 0.9
    assert samples[("warming_tracked_keys", ())] == 12
    assert samples[("warming_runs_open", ())] == 1
    assert samples[("warming_paused", ())] == 1
