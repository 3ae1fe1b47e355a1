"""Pure logic from tables: chunking, TTL maths, decay, entry checks, settings, summaries."""

from __future__ import annotations

import itertools
import math
import random
import re
from collections.abc import Sequence

import pytest

from warming_tasks.beat import PREDICTIVE_ENTRY, REFRESH_ENTRY, STALLED_ENTRY, beat_entries
from warming_tasks.cli.render import describe_half_life
from warming_tasks.errors import EncodeError, SettingsError
from warming_tasks.formats import encode_value
from warming_tasks.formats.raw import RawFormat
from warming_tasks.kinds import Kind, build_summary, empty_summary, outcome
from warming_tasks.maths.accounting import KIND_SLOTS, StrategyAccount, accounts, best, sample
from warming_tasks.maths.batching import chunked
from warming_tasks.maths.decay import access_weight, decayed_count, needs_rebase
from warming_tasks.maths.expiry import in_refresh_window, jittered_ttl
from warming_tasks.maths.popularity import popular_first
from warming_tasks.maths.throttle import Throttle
from warming_tasks.maths.tuning import CANDIDATES_S, Belief
from warming_tasks.ops.metrics import series
from warming_tasks.ops.stats import auto_state
from warming_tasks.settings import Strategy, load_settings, redact_url
from warming_tasks.source import check_entry
from warming_tasks.store import Snapshot


@pytest.mark.parametrize(
    ("count", "size", "expected"),
    [(0, 3, []), (1, 3, [1]), (3, 3, [3]), (7, 3, [3, 3, 1]), (502, 100, [100] * 5 + [2])],
)
def test_chunked_sizes(count: int, size: int, expected: list[int]) -> None:
    batches = list(chunked((str(i) for i in range(count)), size))
    assert [len(b) for b in batches] == expected
    assert [k for b in batches for k in b] == [str(i) for i in range(count)]


def test_chunked_streams_without_exhausting_the_source() -> None:
    endless = (str(i) for i in itertools.count())
    first = next(chunked(endless, 1000))
    assert first[-1] == "999"
    assert next(endless) == "1000"  # nothing read ahead


def test_chunked_rejects_a_zero_size() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        list(chunked(["a"], 0))


@pytest.mark.parametrize(
    ("ttl", "jitter", "low", "high"),
    [
        (3600, 0.1, 3240, 3600),
        (3600, 0.0, 3600, 3600),
        (10, 0.5, 5, 10),
        (1, 0.9, 1, 1),
        (2, 0.99, 1, 2),
    ],
)
def test_jittered_ttl_stays_in_its_range(ttl: int, jitter: float, low: int, high: int) -> None:
    rng = random.Random(7)
    draws = {jittered_ttl(ttl, jitter, rng) for _ in range(2000)}
    assert min(draws) >= low
    assert max(draws) <= high
    if high - low >= 10:
        assert len(draws) > 10  # actually spread, not constant


@pytest.mark.parametrize(
    ("pttl_ms", "threshold_s", "due"),
    [
        (-2, 300, False),
        (-1, 300, False),
        (0, 300, False),
        (1, 300, True),
        (299_999, 300, True),
        (300_000, 300, False),
        (3_600_000, 300, False),
    ],
)
def test_refresh_window(pttl_ms: int, threshold_s: int, due: bool) -> None:
    assert in_refresh_window(pttl_ms, threshold_s) is due


@pytest.mark.parametrize(
    ("now", "epoch", "half_life", "weight"),
    [
        (0, 0, 60, 1.0),
        (60, 0, 60, 2.0),
        (120, 0, 60, 4.0),
        (30, 0, 60, math.sqrt(2)),
        (0, 60, 60, 0.5),
    ],
)
def test_access_weight_doubles_every_half_life(
    now: float, epoch: float, half_life: float, weight: float
) -> None:
    assert access_weight(now, epoch, half_life) == pytest.approx(weight)


def test_an_old_access_counts_half_after_one_half_life() -> None:
    score = access_weight(100, 0, 50)  # one access at t=100
    assert decayed_count(score, 100, 0, 50) == pytest.approx(1.0)
    assert decayed_count(score, 150, 0, 50) == pytest.approx(0.5)
    assert decayed_count(score, 200, 0, 50) == pytest.approx(0.25)


def test_rebase_is_needed_long_before_a_double_overflows() -> None:
    assert not needs_rebase(3600 * 500, 0, 3600)
    assert needs_rebase(3600 * 513, 0, 3600)
    assert math.isfinite(access_weight(3600 * 513, 0, 3600))


def entry_problem(entry: object, max_value_bytes: int) -> str | None:
    """What a batch says of a source's entry under WARMING_FORMAT=raw: the entry's
    shape and TTL (the source's protocol), then its value (the format's)."""
    problem = check_entry(entry)
    if problem is None:
        assert isinstance(entry, tuple | list)
        try:
            encode_value(RawFormat(), entry[0], max_value_bytes)
        except EncodeError as exc:
            return str(exc)
    return problem


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        (("v", 60), None),
        ((b"\x00\xff", 1), None),
        (["v", 60], None),
        (("v", 0), "positive int, got 0"),
        (("v", -1), "positive int, got -1"),
        (("v", 1.5), "got float 1.5"),
        (("v", "60"), "got str '60'"),
        (("v", True), "got bool True"),
        ((42, 60), "str or bytes, got int"),
        ((None, 60), "str or bytes, got NoneType"),
        ("v", "expected (value, ttl), got str"),
        (("v", 60, 1), "expected (value, ttl), got tuple"),
        (("x" * 11, 60), "11 bytes, over WARMING_MAX_VALUE_BYTES=10"),
        (("é" * 6, 60), "12 bytes, over WARMING_MAX_VALUE_BYTES=10"),
    ],
)
def test_check_entry(entry: object, problem: str | None) -> None:
    found = entry_problem(entry, max_value_bytes=10)
    if problem is None:
        assert found is None
    else:
        assert found is not None
        assert problem in found


GOOD_SETTINGS = [
    ("WARMING_BATCH_SIZE", "1", "batch_size", 1),
    ("WARMING_STRATEGY", "Background_Refresh", "strategy", Strategy.BACKGROUND_REFRESH),
    ("WARMING_ENABLE_PREDICTION", "false", "enable_prediction", False),
    ("WARMING_REDIS_URL", "unix:///tmp/redis.sock", "redis_url", "unix:///tmp/redis.sock"),
    ("WARMING_REDIS_URL", "rediss://h:6380/0", "redis_url", "rediss://h:6380/0"),
    ("WARMING_TTL_JITTER", "0", "ttl_jitter", 0.0),
    ("WARMING_PREDICTIVE_INTERVAL", "0", "predictive_interval", 0.0),
    ("WARMING_SOURCE", "pkg.mod:Factory.build", "source", "pkg.mod:Factory.build"),
    ("WARMING_KEY_PREFIX", "app:", "key_prefix", "app:"),
    ("WARMING_BATCH_SIZE", "", "batch_size", 1000),  # empty counts as unset
]


@pytest.mark.parametrize(("var", "value", "field", "expected"), GOOD_SETTINGS)
def test_good_settings(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(var, value)
    assert getattr(load_settings(), field) == expected


BAD_SETTINGS = [
    ("WARMING_BATCH_SIZE", "0"),
    ("WARMING_BATCH_SIZE", "ten"),
    ("WARMING_STRATEGY", "sometimes"),
    ("WARMING_REFRESH_INTERVAL", "0"),
    ("WARMING_REFRESH_THRESHOLD", "-5"),
    ("WARMING_ENABLE_PREDICTION", "maybe"),
    ("WARMING_PREDICTIVE_LIMIT", "0"),
    ("WARMING_PREDICTIVE_INTERVAL", "-1"),
    ("WARMING_TTL_JITTER", "1"),
    ("WARMING_TTL_JITTER", "-0.1"),
    ("WARMING_DECAY_HALF_LIFE", "0"),
    ("WARMING_TRACKER_MAX_KEYS", "0"),
    ("WARMING_FLUSH_INTERVAL", "0"),
    ("WARMING_SOURCE", "no_colon_here"),
    ("WARMING_REDIS_URL", "http://localhost:6379"),
    ("WARMING_REDIS_CLUSTER", "sometimes"),
    ("WARMING_MAX_VALUE_BYTES", "0"),
    ("WARMING_REFRESH_INTERVAL", "inf"),
    ("WARMING_FLUSH_INTERVAL", "nan"),
]


@pytest.mark.parametrize(("var", "value"), BAD_SETTINGS)
def test_bad_settings_name_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{var}={value} is invalid: ")
    assert "\n" not in message


def test_a_bad_redis_url_never_shows_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMING_REDIS_URL", "http://user:hunter2@cache:6379")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    assert "user:***@cache:6379" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://:pw@h:notaport/0", "redis://:***@h:notaport/0"),
        ("redis://h/0?password=secret&db=1", "redis://h/0?password=***&db=1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("strategy", "prediction", "kind", "runs"),
    [
        ("all", "true", Kind.PRELOAD, True),
        ("all", "false", Kind.PREDICTIVE, False),
        ("preload", "true", Kind.REFRESH, False),
        ("background_refresh", "true", Kind.REFRESH, True),
        ("predictive", "true", Kind.PRELOAD, False),
        ("none", "true", Kind.PRELOAD, False),
    ],
)
def test_strategy_switches(
    monkeypatch: pytest.MonkeyPatch, strategy: str, prediction: str, kind: Kind, runs: bool
) -> None:
    monkeypatch.setenv("WARMING_STRATEGY", strategy)
    monkeypatch.setenv("WARMING_ENABLE_PREDICTION", prediction)
    reason = load_settings().allows(kind.strategy)
    assert (reason is None) is runs
    if not runs:
        assert "WARMING_" in (reason or "")


def test_beat_entries_follow_the_intervals() -> None:
    entries = beat_entries(load_settings(refresh_interval=5, predictive_interval=0))
    assert entries == {
        REFRESH_ENTRY: {
            "task": "warming_tasks.refresh",
            "schedule": 5.0,
            "options": {"expires": 5.0},
        },
        STALLED_ENTRY: {
            "task": "warming_tasks.close_stalled_runs",
            "schedule": 60.0,
            "options": {"expires": 60.0},
        },
    }
    entries = beat_entries(load_settings(predictive_interval=120, run_stall_s=20))
    assert entries[PREDICTIVE_ENTRY]["task"] == "warming_tasks.predictive_load"
    assert entries[PREDICTIVE_ENTRY]["schedule"] == 120.0
    assert entries[STALLED_ENTRY]["schedule"] == 5.0  # four checks per stall period


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


def test_the_throttle_allows_a_burst_then_counts_what_it_holds_back() -> None:
    now = [0.0]
    throttle = Throttle(limit=3, period_s=60, clock=lambda: now[0])
    assert [throttle.allow() for _ in range(5)] == [
        (True, 0),
        (True, 0),
        (True, 0),
        (False, 0),
        (False, 0),
    ]
    now[0] = 61
    assert throttle.allow() == (True, 2), "the next line says how many were held back"
    assert throttle.allow() == (True, 0)


def test_a_warming_queue_is_put_on_beat_entries() -> None:
    entries = beat_entries(load_settings(queue="warming", predictive_interval=30))
    assert entries[REFRESH_ENTRY]["options"] == {"expires": 60.0, "queue": "warming"}
    assert entries[PREDICTIVE_ENTRY]["options"] == {"expires": 30.0, "queue": "warming"}


@pytest.mark.parametrize(
    ("value", "ok"), [("warming", True), ("cache.warm-1", True), ("has space", False), ("", True)]
)
def test_queue_names(monkeypatch: pytest.MonkeyPatch, value: str, ok: bool) -> None:
    monkeypatch.setenv("WARMING_QUEUE", value)
    if ok:
        assert load_settings().queue == (value or None)
    else:
        with pytest.raises(SettingsError, match="WARMING_QUEUE=has space is invalid"):
            load_settings()


@pytest.mark.parametrize(
    ("written", "expected"),
    [(0, 0), (1, 1), (10, 10), (11, 6), (100, 10), (1000, 10), (100_000, 10)],
)
def test_a_batch_samples_at_most_10_keys_evenly(written: int, expected: int) -> None:
    picked = sample(list(range(written)))
    assert len(picked) == expected
    assert picked == sorted(set(picked)), "each once, in batch order"
    if written:
        assert picked[0] == 0
        assert written - 1 - picked[-1] < written / expected, "spread to the batch's end"


@pytest.mark.parametrize(
    ("read", "expired", "share", "verdict"),
    [
        (0, 0, None, "too early to tell"),
        (19, 0, 1.0, "too early to tell"),
        (10, 10, 0.5, "earns its keep"),
        (30, 70, 0.3, "partly read"),
        (9, 91, 0.09, "mostly unread"),
    ],
)
def test_a_strategy_is_judged_by_the_share_of_settled_samples_read(
    read: int, expired: int, share: float | None, verdict: str
) -> None:
    row = StrategyAccount("preload", warmed=1000, sampled=100, read=read, expired=expired)
    assert row.read_share == share
    assert row.verdict == verdict


def test_counters_become_rows_and_the_best_strategy() -> None:
    rows = accounts(
        {"warmed:0": 500, "sampled:0": 500, "read:0": 40, "expired:0": 60}
        | {"warmed:2": 30, "sampled:2": 30, "read:2": 25, "expired:2": 5}
        | {"warmed:1": 9, "read:1": 9}
    )
    assert [(r.strategy, r.warmed, r.read, r.expired) for r in rows] == [
        ("preload", 500, 40, 60),
        ("refresh", 9, 9, 0),
        ("predictive", 30, 25, 5),
    ]
    assert best(rows) == "predictive", "refresh read every key, but 9 settle nothing"
    assert best(accounts({})) is None


def test_popular_first_puts_scored_keys_first_then_the_rest_in_source_order() -> None:
    scores = {"k7": 5.0, "k2": 9.0, "k9": 1.0, "other": 99.0}
    calls: list[int] = []

    def hot_keys() -> list[str]:
        calls.append(1)
        return [f"k{i}" for i in range(10)]

    def lookup(keys: Sequence[str]) -> list[float | None]:
        return [scores.get(k) for k in keys]

    ordered = list(popular_first(hot_keys, lookup, chunk=3))
    assert ordered == ["k2", "k7", "k9", "k0", "k1", "k3", "k4", "k5", "k6", "k8"]
    assert len(calls) == 2, "the hot keys are listed twice, never held whole"


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


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("products", "WARMING_SOURCES=products is invalid: 'products' is not name=module"),
        ("a=m:A,a=m:B", "WARMING_SOURCES=a=m:A,a=m:B is invalid: the source 'a' is named twice"),
        ("default=m:A", "is the name of WARMING_SOURCE's one source: choose another"),
    ],
)
def test_bad_source_lists_are_one_line_naming_the_setting(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(sources=value)


def test_sources_are_named_in_order_and_one_source_is_default() -> None:
    specs = load_settings(sources=" products=shop.cache:P , users=shop.cache:U").source_specs()
    assert specs == {"products": "shop.cache:P", "users": "shop.cache:U"}
    assert load_settings(source="shop.cache:P").source_specs() == {"default": "shop.cache:P"}
    with pytest.raises(SettingsError, match="WARMING_SOURCE and WARMING_SOURCES are both set"):
        load_settings(source="shop.cache:P", sources="a=shop.cache:P")


def test_stats_says_auto_has_no_evidence_yet_instead_of_a_row_of_zeros() -> None:
    before = auto_state(load_settings(), None)
    line = describe_half_life(before)
    assert line == (
        "half-life auto: 1920 s, the one it starts with: 0 of the 200 sampled reads it "
        "needs before it chooses (track the application's reads: track_access or a "
        "tracking cache backend)"
    )
    assert "%" not in line
    thin = Belief(1920.0, 1_700_000_000.0, 57.0, (10.0,) * len(CANDIDATES_S))
    assert "57 of the 200 sampled reads" in describe_half_life(auto_state(load_settings(), thin))


def test_stats_says_what_auto_chose_and_which_candidate_held_most() -> None:
    hits = (300.0, 500.0, 620.0, 600.0, 580.0, 560.0)
    belief = Belief(240.0, 1_700_000_000.0, 1000.0, hits)
    line = describe_half_life(auto_state(load_settings(), belief))
    assert line.startswith(
        "half-life auto: 240 s since 2023-11-14 22:13:20 UTC (a read counts half after 4 min); "
        "of the last 1,000 sampled reads, a top-1,000 warm set ranked with each candidate "
        "half-life would have held: 30 s 30.0%, 85 s 50.0%, 240 s 62.0%"
    )
    assert line.endswith("(best 240 s)")
    # After a predictive load of 40, the evidence is about a top 40.
    read = Belief(240.0, 1_700_000_000.0, 1000.0, hits, warm_set=40)
    assert "a top-40 warm set" in describe_half_life(auto_state(load_settings(), read))
