"""The run protocol's schema (``warming_tasks.records``) and the packers of the Lua
scripts that take many arguments, checked without a server: names built and
parsed back, counts told from meta fields, and each packer's order against what
its script's header says."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from itertools import takewhile
from typing import Any

import pytest

from warming_tasks import constants as c
from warming_tasks.kinds import Kind, build_summary
from warming_tasks.maths.accounting import KIND_SLOTS
from warming_tasks.maths.tuning import CANDIDATES_S, EVAL_HALF_LIFE_S, SNAPSHOT_S
from warming_tasks.records import (
    ALL_SOURCES,
    BodyBy,
    Count,
    Meta,
    Outcome,
    RunRecord,
    Total,
    TotalsField,
    count_field,
    lock_field,
    parse_locks,
    parse_totals,
    run_keys,
)
from warming_tasks.settings import DEFAULT_SOURCE
from warming_tasks.store import Warmed
from warming_tasks.store.base import script_text
from warming_tasks.store.frequency import Flush, Rescale, half_life_text, sample_key
from warming_tasks.store.lock import lock_key
from warming_tasks.store.runs import Account, RunCount
from warming_tasks.warmer import BatchResult, RetryOutcome

ODD_SOURCES = ["users", "a@b", "x:y|z", "@", "ünïcode name", ""]


@pytest.mark.parametrize("source", [None, *ODD_SOURCES])
def test_every_totals_field_is_parsed_back_as_it_was_built(source: str | None) -> None:
    built = [
        *(
            TotalsField(Total.RUNS, kind.value, outcome, source)
            for kind in Kind
            for outcome in Outcome
        ),
        *(
            TotalsField(total, kind.value, None, source)
            for kind in Kind
            for total in Total
            if total is not Total.RUNS
        ),
    ]
    for field in built:
        assert TotalsField.parse(str(field)) == field
    assert parse_totals({str(f): float(i) for i, f in enumerate(built)}) == {
        f: float(i) for i, f in enumerate(built)
    }


def test_totals_fields_keep_the_names_outside_tools_read() -> None:
    assert str(TotalsField(Total.RUNS, "preload", Outcome.OK)) == "runs:preload:ok"
    assert str(TotalsField(Total.RUNS, "refresh", Outcome.SKIPPED, "users")) == (
        "runs:refresh:skipped@users"
    )
    assert str(TotalsField(Total.FINISHED_AT, "refresh", source="users")) == (
        "finished_at:refresh@users"
    )
    assert [str(TotalsField(t, "predictive")) for t in Total if t is not Total.RUNS] == [
        "finished_at:predictive",
        "duration_s:predictive",
        "succeeded_at:predictive",
    ]


@pytest.mark.parametrize(
    "name",
    ["runs:preload", "runs:preload:ok:extra", "runs:preload:nope", "later:preload", "", "@users"],
)
def test_a_totals_field_of_no_known_shape_is_left_out(name: str) -> None:
    assert TotalsField.parse(name) is None
    assert parse_totals({name: 1.0, "runs:preload:ok": 2.0}) == {
        TotalsField(Total.RUNS, "preload", Outcome.OK): 2.0
    }


def test_counts_and_meta_fields_are_apart_and_the_kinds_name_counts_only() -> None:
    assert not {m.value for m in Meta} & {n.value for n in Count}
    for kind in Kind:
        for count in (*kind.fields, *kind.progress_fields, *kind.considered):
            assert isinstance(count, Count), (kind, count)


def test_a_record_is_read_back_typed_with_its_counts_apart() -> None:
    state = {
        Meta.KIND: "refresh",
        Meta.STARTED_AT: "100.5",
        Meta.SOURCE: "users",
        Meta.LOCK: json.dumps({"users": "tok"}),
        Meta.FINISH: json.dumps({"task": "warming_tasks.finish_run"}),
        Meta.DISPATCHED: "4",
        Meta.TOTAL: "5",
        Meta.DISPATCHED_AT: "101.0",
        Meta.COUNTED: "5",
        Meta.FINISHED_AT: "103.25",
        Meta.BODY_BY: BodyBy.DISPATCH,
        Meta.BODY_SENT: "1",
        Meta.RECORDED: "1",
        Meta.CANCEL: "102.0",
        Meta.STALLED: "103.25",
        Meta.BATCHES_DONE: "5",
        Count.CHECKED: "9",
        Count.LOST: "1",
    }
    record = RunRecord.parse({str(k): v for k, v in state.items()})
    assert record.exists
    assert (record.kind, record.started_at, record.scope) == ("refresh", 100.5, "users")
    assert record.locks == {"users": "tok"}
    assert record.body() == {"task": "warming_tasks.finish_run"}
    assert (record.dispatched, record.total, record.sent, record.batches_done) == (4, 5, 5, 5)
    assert (record.dispatched_at, record.finished_at) == (101.0, 103.25)
    assert (record.body_by, record.cancelled_at, record.stalled_at) == ("dispatch", 102.0, 103.25)
    assert record.counts == {Count.CHECKED: 9, Count.LOST: 1}
    assert (record.by_source, record.unknown) == ({}, ())


def test_an_empty_record_is_none_and_a_run_over_every_source_has_no_scope() -> None:
    empty = RunRecord.parse({})
    assert (empty.exists, empty.started_at, empty.sent, empty.counts) == (False, None, 0, {})
    assert RunRecord.parse({"source": ALL_SOURCES}).scope is None
    assert RunRecord.parse({"dispatched": "3"}).sent == 3


@pytest.mark.parametrize("source", ODD_SOURCES)
def test_a_source_s_share_is_read_back_under_its_name(source: str) -> None:
    state = {count_field(Count.LOADED, source): "4", count_field(Count.FAILED, source): "1"}
    state[count_field(Count.LOADED)] = "7"
    record = RunRecord.parse(state)
    assert record.counts == {Count.LOADED: 7}
    assert record.by_source == {source: {Count.LOADED: 4, Count.FAILED: 1}}


def test_an_unknown_field_is_never_taken_for_a_count() -> None:
    state = {
        "kind": "preload",
        "started_at": "1.0",
        "finished_at": "2.0",
        "total": "1",
        "loaded": "3",
        "a_later_meta_field": "not a number",
        "users|a_later_count": "2",
    }
    record = RunRecord.parse(state)
    assert record.unknown == ("a_later_meta_field", "users|a_later_count")
    assert record.by_source == {}
    summary = build_summary(Kind.PRELOAD, "r", state, [], now_s=5.0)
    assert summary["loaded"] == 3
    assert "a_later_meta_field" not in summary
    assert "by_source" not in summary
    assert build_summary(Kind.PRELOAD, "r", record, [], now_s=5.0) == summary


def test_a_summary_names_its_counts_as_plain_text() -> None:
    state = {"kind": "preload", "started_at": "1", "loaded": "2", "users|loaded": "2"}
    summary = build_summary(Kind.PRELOAD, "r", state, [], now_s=2.0)
    assert summary["by_source"] == {"users": {"loaded": 2, "missing": 0, "failed": 0}}
    names = [*summary, *summary["by_source"]["users"]]
    assert all(type(name) is str for name in names)


def test_the_lock_field_keeps_the_bare_token_of_the_one_default_source() -> None:
    assert lock_field({DEFAULT_SOURCE: "tok"}, named=False) == "tok"
    assert lock_field({}, named=False) == ""
    assert parse_locks(lock_field({DEFAULT_SOURCE: "tok"}, named=False)) == {DEFAULT_SOURCE: "tok"}
    locks = {"users": "t1", "products": "t2"}
    assert parse_locks(lock_field(locks, named=True)) == locks
    assert parse_locks("") == {}


def test_a_run_s_keys_share_its_record_s_name() -> None:
    keys = run_keys("abc")
    assert keys == (
        f"{c.RUN_KEY_PREFIX}abc",
        f"{c.RUN_KEY_PREFIX}abc:done",
        f"{c.RUN_KEY_PREFIX}abc:errors",
    )
    assert keys.record == f"{c.TAG}:run:abc"


# The scripts that read or write a run's record by field name.
RUN_SCRIPTS = ("run_count", "dispatch_done", "close_stalled", "cancel")


@pytest.mark.parametrize("script", RUN_SCRIPTS)
def test_the_run_scripts_name_only_fields_the_schema_knows(script: str) -> None:
    known = {str(name) for name in (*Meta, *Count, *BodyBy)}
    named: set[str] = set()
    for line in script_text(script).splitlines():
        code = line.split("--", 1)[0]
        if re.search(r"redis\.call\('H[A-Z]+', (run|KEYS\[1\])", code):
            named |= set(re.findall(r"'([a-z_]+)'", code))
    assert named, "the script touches the run's record"
    assert named <= known, f"{script}.lua names fields records.py does not: {named - known}"


def header(script: str) -> dict[str, str]:
    """What the script's leading comment says of each ``KEYS[n]`` and ``ARGV[n]``."""
    lines = takewhile(lambda line: line.startswith("--"), script_text(script).splitlines())
    text = " ".join(line.removeprefix("--").strip() for line in lines)
    marks = list(re.finditer(r"\b(KEYS|ARGV)\[(\d+)\]:", text))
    ends = [m.start() for m in marks[1:]] + [len(text)]
    return {
        f"{m[1]}[{m[2]}]": text[m.end() : end].strip() for m, end in zip(marks, ends, strict=True)
    }


def check_against_header(
    script: str, keys: Sequence[str], argv: Sequence[Any], expected: dict[str, tuple[str, Any]]
) -> None:
    """Every position the header documents is in ``expected`` (what the header says
    there, and the value the packer put there), and the packer put it there."""
    said = header(script)
    assert set(said) == set(expected), f"{script}.lua documents {sorted(said)}"
    for position, (words, value) in expected.items():
        assert words in said[position], f"{script}.lua {position}: {said[position]!r}"
        packed = keys if position.startswith("KEYS") else argv
        index = int(position.split("[")[1].rstrip("]")) - 1
        assert packed[index] == value, f"{script}.lua {position} ({words})"


def test_run_count_is_packed_as_its_header_says() -> None:
    call = RunCount(
        run_id="R",
        index=7,
        counts={Count.LOADED: 3, count_field(Count.FAILED, "users"): 1},
        errors=['{"key": "k", "reason": "boom"}'],
        now=12.5,
        lock_token="T",
        source="users",
    )
    keys, argv = call.key_names(), call.argv()
    record, done, errors = run_keys("R")
    check_against_header(
        "run_count",
        keys,
        argv,
        {
            "KEYS[1]": ("run hash", record),
            "KEYS[2]": ("finished batch indexes", done),
            "KEYS[3]": ("error sample", errors),
            "KEYS[4]": ("refresh lock", lock_key("users")),
            "KEYS[5]": ("open runs", c.OPEN_RUNS_KEY),
            "ARGV[1]": ("batch index", 7),
            "ARGV[2]": ("lock token", "T"),
            "ARGV[3]": ("lock ttl ms", c.REFRESH_LOCK_TTL_S * 1000),
            "ARGV[4]": ("run record ttl", c.RUN_STATE_TTL_S),
            "ARGV[5]": ("error sample length", c.ERROR_SAMPLE_LEN),
            "ARGV[6]": ("now", 12.5),
            "ARGV[7]": ("run id", "R"),
            "ARGV[8]": ("number of counts", 2),
        },
    )
    assert len(keys) == 5
    assert argv[8:] == ["loaded", 3, "users|failed", 1, '{"key": "k", "reason": "boom"}']


def test_account_is_packed_as_its_header_says() -> None:
    warmed = Warmed(2, 5, [("a", 60), ("b", 90)], 9.0, failed=1, superseded=3, kept_stale=4)
    call = Account(warmed, now=10.0)
    keys, argv = call.key_names(), call.argv()
    check_against_header(
        "account",
        keys,
        argv,
        {
            "KEYS[1]": ("warmed-key samples", c.WARMED_KEY),
            "KEYS[2]": ("accounting counters", c.ACCOUNT_KEY),
            "ARGV[1]": ("kind code", 2),
            "ARGV[2]": ("keys the batch warmed", 5),
            "ARGV[3]": ("most samples kept", c.WARMED_MAX_KEYS),
            "ARGV[4]": ("when they were written", 9.0),
            "ARGV[5]": ("now", 10.0),
            "ARGV[6]": ("slots", KIND_SLOTS),
            "ARGV[7]": ("keys the batch failed", 1),
            "ARGV[8]": ("newer values", 3),
            "ARGV[9]": ("kept past", 4),
        },
    )
    assert argv[9:] == ["a", 60, "b", 90]
    assert Account(Warmed(0, 1), now=10.0).argv()[3] == 10.0, "written now, unless it says"


def test_the_limits_a_packer_sends_are_read_when_it_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(c, "WARMED_MAX_KEYS", 2)
    monkeypatch.setattr(c, "ERROR_SAMPLE_LEN", 3)
    monkeypatch.setattr(c, "RESCALE_STEP", 4)
    assert Account(Warmed(0, 1), now=1.0).argv()[2] == 2
    assert RunCount("R", 0, {}, [], 1.0).argv()[4] == 3
    assert Rescale("freq", []).argv()[1] == 4


@pytest.mark.parametrize("auto", [False, True])
def test_flush_is_packed_as_its_header_says(auto: bool) -> None:
    flush = Flush(
        epoch=100,
        half_life_s=1800.0,
        per_read=1.5,
        max_keys=1000,
        read_since=50.0,
        sweep_before=40.0,
        now=60.0,
        reads=[("a", 2.0), ("b", 1.0)],
    )
    if auto:
        flush.sample_epoch = 90
        flush.sample_per_read = tuple(float(i) for i in range(len(CANDIDATES_S)))
        flush.sampled = [2]
        flush.sample_top, flush.sample_max_keys = 11, 22
    keys, argv = flush.key_names(), flush.argv()
    candidates = len(CANDIDATES_S) if auto else 0
    check_against_header(
        "flush",
        keys,
        argv,
        {
            "KEYS[1]": ("frequency set", c.FREQUENCY_KEY),
            "KEYS[2]": ("its epoch", c.EPOCH_KEY),
            "KEYS[3]": ("warmed-key samples", c.WARMED_KEY),
            "KEYS[4]": ("accounting counters", c.ACCOUNT_KEY),
            "KEYS[5]": ("auto's state", c.AUTO_KEY),
            "KEYS[6]": ("rescale in flight", c.RESCALE_KEY),
            "ARGV[1]": ("epoch the client holds", 100),
            "ARGV[2]": ("half-life it holds", half_life_text(1800.0)),
            "ARGV[3]": ("score per read", repr(1.5)),
            "ARGV[4]": ("most members kept", 1000),
            "ARGV[5]": ("earliest time", 50.0),
            "ARGV[6]": ("count as unread", 40.0),
            "ARGV[7]": ("most of them swept", c.WARMED_SWEEP_PER_CALL),
            "ARGV[8]": ("slots", KIND_SLOTS),
            "ARGV[9]": ("candidates", candidates),
            "ARGV[10]": ("candidates' epoch", 90 if auto else ""),
            "ARGV[11]": ("stands for the top N", 11 if auto else 0),
            "ARGV[12]": ("now", 60.0),
            "ARGV[13]": ("evidence's half-life", EVAL_HALF_LIFE_S),
            "ARGV[14]": ("most members of a sample set", 22 if auto else 0),
            "ARGV[15]": ("member/reads pairs", 2),
        },
    )
    tail = argv[15:]
    per_read = [repr(float(i)) for i in range(candidates)]
    assert tail[:candidates] == per_read, "then one score per read per candidate"
    assert tail[candidates] == (SNAPSHOT_S if auto else 0), "then the seconds between snapshots"
    assert tail[candidates + 1 :] == ["a", 2.0, "b", 1.0, *([2] if auto else [])]
    sets = [sample_key(h) for h in CANDIDATES_S] if auto else []
    assert keys[6:] == [*sets, *(f"{key}:snapshot" for key in sets)]


def test_rescale_is_packed_as_its_header_says() -> None:
    call = Rescale("freq", ["s1", "s2"], 10, 20, 30.0, "h1", "h2", [0.5, 0.25])
    keys, argv = call.key_names(), call.argv()
    check_against_header(
        "rescale",
        keys,
        argv,
        {
            "KEYS[1]": ("the job", c.RESCALE_KEY),
            "KEYS[2]": ("frequency set's epoch", c.EPOCH_KEY),
            "KEYS[3]": ("auto's state", c.AUTO_KEY),
            "ARGV[1]": ("'freq' or 'samples'", "freq"),
            "ARGV[2]": ("members per step", c.RESCALE_STEP),
            "ARGV[3]": ("epoch the caller holds", 10),
            "ARGV[4]": ("new epoch", 20),
            "ARGV[5]": ("now", 30.0),
            "ARGV[6]": ("half-life held", "h1"),
            "ARGV[7]": ("half-life wanted", "h2"),
        },
    )
    assert keys[3:] == ["s1", "s2"], "then the sets to scale"
    assert argv[7:] == [repr(0.5), repr(0.25)], "then a factor per set"
    # Carrying on a stored job: start arguments that match no epoch, as always sent.
    assert Rescale("samples", ["s"]).argv() == ["samples", c.RESCALE_STEP, "", "", 0, "", ""]


def test_a_batch_result_gives_its_accounting_by_name() -> None:
    counts: dict[str, int] = {
        Count.LOADED: 5,
        Count.FAILED: 2,
        Count.SUPERSEDED: 1,
        Count.KEPT_STALE: 3,
    }
    result = BatchResult(counts, written=5, sample=[("a", 60)], written_at=9.0)
    assert result.warmed(Kind.REFRESH.code) == Warmed(
        code=1, written=5, sample=[("a", 60)], written_at=9.0, failed=2, superseded=1, kept_stale=3
    )
    assert BatchResult({}).warmed(0) == Warmed(sample=[])


def test_a_batch_result_crosses_the_wire_as_the_same_named_object() -> None:
    """What a retry carries is JSON by name, as workers of every version send and
    read it: the same bytes as before its type had a name."""
    result = BatchResult(
        {Count.LOADED: 5},
        errors=[{"key": "k", "reason": "boom"}],
        written=5,
        sample=[("a", 60)],
        written_at=9.0,
    )
    sent = json.dumps(result.as_outcome())
    assert sent == (
        '{"counts": {"loaded": 5}, "errors": [{"key": "k", "reason": "boom"}], '
        '"written": 5, "sample": [["a", 60]], "written_at": 9.0}'
    )
    assert BatchResult.from_outcome(json.loads(sent)) == result
    # An older worker's outcome had only the counts and the errors.
    older: RetryOutcome = {"counts": {"failed": 1}, "errors": []}
    assert BatchResult.from_outcome(older) == BatchResult({"failed": 1})
