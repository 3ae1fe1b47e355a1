"""Finding the source named by WARMING_SOURCE, and what each failure says."""

from __future__ import annotations

import pytest

from warming_tasks.errors import SourceError
from warming_tasks.sample import SampleSource
from warming_tasks.source import load_source


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
