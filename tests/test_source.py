"""``source``: finding the source named by WARMING_SOURCE, what each failure says, and
what a batch says of an entry the source returns."""

from __future__ import annotations

import pytest

from warming_tasks.errors import EncodeError, SourceError
from warming_tasks.formats import encode_value
from warming_tasks.formats.raw import RawFormat
from warming_tasks.sample import SampleSource
from warming_tasks.source import check_entry, load_source


@pytest.mark.parametrize(
    "spec",
    ["warming_tasks.sample:SampleSource", "fixture_sources:Catalogue", "fixture_sources:LoadOnly"],
)
def test_a_class_is_instantiated(spec: str) -> None:
    source = load_source(spec)
    assert callable(source.hot_keys)
    assert callable(source.load)


def test_an_instance_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from warming_tasks import sample  # noqa: PLC0415 - the import itself is what the test checks

    instance = SampleSource(products=3)
    monkeypatch.setattr(sample, "INSTANCE", instance, raising=False)
    assert load_source("warming_tasks.sample:INSTANCE") is instance


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (None, "WARMING_SOURCE is not set"),
        ("no_such_module:Nope", "module 'no_such_module' cannot be imported"),
        ("warming_tasks.sample:Nope", "has no 'Nope'"),
        ("fixture_sources:broken_factory", "calling it failed (RuntimeError: the database is not"),
        (
            "warming_tasks.sample:DEFAULT_PRODUCTS",
            "int has no hot_keys() and no load() or load_many()",
        ),
    ],
)
def test_a_bad_source_says_what_is_wrong(spec: str | None, message: str) -> None:
    with pytest.raises(SourceError) as caught:
        load_source(spec)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


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
