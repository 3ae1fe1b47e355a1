"""The run protocol's schema (``warming_tasks.records``), checked without a server:
names built and parsed back, counts told from meta fields."""

from __future__ import annotations

import json
import re

import pytest

from warming_tasks import constants as c
from warming_tasks.kinds import Kind, build_summary
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
from warming_tasks.store.base import script_text

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
