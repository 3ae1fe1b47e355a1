"""A source that raises, returns None, wrong types, bad TTLs, a 10 MB value.

Every bad key fails alone with its reason in the summary; the good keys of the
same batch are written; nothing bad is written.
"""

from __future__ import annotations

import pytest
import redis

from ..helpers import Processes, Stack
from ..support.fault_sources import (
    BAD_ENTRIES,
    GOOD_KEYS,
    NO_DATA_KEY,
    RAISING_KEY,
    RAISING_REASON,
    value_for,
)

pytestmark = [pytest.mark.faults, pytest.mark.integration]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("source", "raises"),
    [
        ("fault_sources:BadEntries", True),  # load only, adapted per key
        ("fault_sources:BadEntriesMany", True),  # load_many raises: falls back to load
        ("fault_sources:BadEntriesMapping", False),  # bad entries inside load_many's mapping
    ],
)
def test_each_bad_entry_fails_alone_with_its_reason(
    stack: Stack, procs: Processes, ctl: redis.Redis, source: str, raises: bool
) -> None:
    """One batch of good and bad entries, from a load-only source, a source whose
    load_many raises, and one with bad entries inside load_many's mapping: each bad key
    fails with its reason in the summary, the good keys are written with their TTL, and
    nothing else is written."""
    procs.worker(stack.env(source=source, WARMING_BATCH_SIZE=1000), concurrency=1)
    summary = stack.caller().send_task("warming_tasks.preload").get(timeout=30)

    expected = {key: phrase for key, (_, phrase) in BAD_ENTRIES.items()}
    if raises:
        expected[RAISING_KEY] = RAISING_REASON
    assert summary["batches"] == 1, "good and bad keys share one batch"
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (
        len(GOOD_KEYS),
        1,
        len(expected),
    )
    errors = {e["key"]: e["reason"] for e in summary["errors"]}
    assert len(summary["errors"]) == len(expected) <= 10, "the sample holds them all"
    assert set(errors) == set(expected)
    for key, phrase in expected.items():
        assert phrase in errors[key], (key, errors[key])
        assert len(errors[key]) <= 300

    cache = stack.cache_client()
    for key in GOOD_KEYS:
        assert cache.get(key) == value_for(key).encode(), key
        assert 3200 <= cache.ttl(key) <= 3600
    assert not cache.exists(NO_DATA_KEY), "no data: nothing written"
    for key in expected:
        assert not cache.exists(key), f"a bad entry was written: {key}"
    written = {k.decode() for k in cache.scan_iter() if not k.startswith(b"{warming}")}
    assert written == set(GOOD_KEYS)
