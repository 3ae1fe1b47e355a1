"""Named sources, each with the policy it declares: which keys it loads, and the
settings that differ for its runs (``WARMING_SOURCES``; ``WARMING_SOURCE`` alone is
the one source named ``default``)."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import SourceError, WarmingError
from .settings import DEFAULT_SOURCE, Settings
from .source import DataSource, load_source


class Policy(BaseModel):
    """What a source may declare as plain attributes; each overrides the setting of
    the same name for that source's runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: str = Field("*", min_length=1)  # a glob of the application keys it loads
    batch_size: int | None = Field(None, ge=1, le=100_000)
    refresh_interval: float | None = Field(None, gt=0, allow_inf_nan=False)
    refresh_threshold: int | None = Field(None, gt=0)
    source_rate: float | None = Field(None, ge=0, allow_inf_nan=False)
    stale_if_error: float | None = Field(None, ge=0, allow_inf_nan=False)


POLICY_FIELDS = tuple(Policy.model_fields)


@dataclass(frozen=True)
class NamedSource:
    """A source, its name, and the settings its runs use (the global settings with
    what it declares)."""

    name: str
    source: DataSource
    settings: Settings
    keys: str = "*"
    # The source budget it draws from: its own where it declares ``source_rate``,
    # else the one WARMING_SOURCE_RATE sets for every source together.
    budget: str = DEFAULT_SOURCE

    def claims(self, key: str) -> bool:
        return self.keys == "*" or fnmatch.fnmatchcase(key, self.keys)


# A batch waits for its share of a source budget before it loads: at most this long,
# so that its run's lock (300 s) and the stall closer (600 s) never see it idle.
BUDGET_WAIT_S = 60


def suggested_batch_size(size: int) -> int | None:
    """``size``, the batch size a built-in source declares, unless the user chose
    one with ``WARMING_BATCH_SIZE`` (then None: the setting applies); under a
    ``WARMING_SOURCE_RATE``, no more keys than the budget gives in a minute."""
    from .settings import get_settings  # noqa: PLC0415 - read when a source is built

    try:
        settings = get_settings()
    except WarmingError:
        return size  # bad settings are reported at start-up, in one line
    if "batch_size" in settings.model_fields_set:
        return None
    if settings.source_rate:
        return max(1, min(size, int(settings.source_rate * BUDGET_WAIT_S)))
    return size


def declared_policy(name: str, spec: str, source: Any) -> Policy:
    """The policy ``source`` declares; SourceError naming the attribute and value."""
    # Plain attributes only: a method that happens to share a name is not a policy.
    given = {
        f: value
        for f in POLICY_FIELDS
        if (value := getattr(source, f, None)) is not None and not callable(value)
    }
    try:
        return Policy(**given)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = error["loc"][0] if error["loc"] else "?"
        reason = str(error["msg"]).removeprefix("Value error, ")
        raise SourceError(
            f"source {name} ({spec}): {field}={error.get('input')!r} is invalid: "
            f"{reason[:1].lower()}{reason[1:]}"
        ) from None


def load_sources(settings: Settings) -> dict[str, NamedSource]:
    """Every configured source, in the order named, with its settings."""
    specs = settings.source_specs()
    if not specs:
        raise SourceError(
            "WARMING_SOURCE is not set: name your data source as 'module:attribute' "
            "(or several as WARMING_SOURCES=name=module:attribute,...)"
        )
    found = {}
    for name, spec in specs.items():
        setting = "WARMING_SOURCE" if settings.source else f"WARMING_SOURCES {name}"
        source = load_source(spec, setting)
        policy = declared_policy(name, spec, source)
        update = {f: v for f, v in policy.model_dump().items() if f != "keys" and v is not None}
        budget = name if policy.source_rate is not None else DEFAULT_SOURCE
        found[name] = NamedSource(
            name, source, settings.model_copy(update=update), policy.keys, budget
        )
    return found


def pick(sources: Mapping[str, NamedSource], name: str | None) -> list[NamedSource]:
    """The sources a run of ``name`` covers: that one, or every one for None;
    SourceError listing the names for a name that is not one."""
    if name is None:
        return list(sources.values())
    if name not in sources:
        raise SourceError(f"no source is named {name!r} (the sources are: {', '.join(sources)})")
    return [sources[name]]


def route(keys: Iterable[str], sources: Iterable[NamedSource]) -> tuple[dict[str, list[str]], int]:
    """Each key for the first source whose ``keys`` glob matches it, in order; and
    how many keys no source claims."""
    ordered = list(sources)
    routed: dict[str, list[str]] = {s.name: [] for s in ordered}
    unrouted = 0
    for key in keys:
        for named in ordered:
            if named.claims(key):
                routed[named.name].append(key)
                break
        else:
            unrouted += 1
    return routed, unrouted


__all__ = [
    "DEFAULT_SOURCE",
    "POLICY_FIELDS",
    "NamedSource",
    "Policy",
    "load_sources",
    "pick",
    "route",
]
