"""The validated settings model, read from ``WARMING_*`` environment variables."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import lru_cache
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import SettingsError

ENV_PREFIX = "WARMING_"
_SOURCE_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")
SOURCE_NAME = re.compile(r"^[A-Za-z_][\w-]{0,63}$")
DEFAULT_SOURCE = "default"  # the name of the one source WARMING_SOURCE names
_REDIS_SCHEMES = ("redis", "rediss", "unix")
BUILT_IN_FORMATS = ("raw", "django", "cachelib")
_QUERY_SECRET = re.compile(r"((?:^|&)password=)[^&]*", re.IGNORECASE)


class Strategy(StrEnum):
    """Which warming strategies run; the others' tasks return ``skipped``."""

    NONE = "none"
    PRELOAD = "preload"
    BACKGROUND_REFRESH = "background_refresh"
    PREDICTIVE = "predictive"
    ALL = "all"


class Settings(BaseSettings):
    """Every knob of the suite; field ``x`` is read from ``WARMING_X``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_ignore_empty=True, frozen=True, validate_default=True
    )

    # Each description is the settings reference (docs/reference/settings.md is
    # generated from them; a test fails when the two differ).
    redis_url: str = Field(
        "redis://localhost:6379/0",
        description="the cache Redis (`redis://`, `rediss://`, `unix://`)",
    )
    redis_cluster: bool = Field(
        False, description="the cache is a Redis Cluster (the URL names any node)"
    )
    source: str | None = Field(
        None,
        description="`module:attribute` of the data source (the one source named `default`); "
        "this or `WARMING_SOURCES` is needed to warm",
    )
    # Several named sources, "name=module:attribute,...": see ``source_specs``.
    sources: str | None = Field(
        None,
        description="several named sources, `name=module:attribute,…`, each with the policy "
        "it declares (see [Sources](../sources.md#many-key-families-and-warming-on-demand))",
    )
    strategy: Strategy = Field(
        Strategy.ALL,
        description="which strategies run: `none`, `preload`, `background_refresh`, "
        "`predictive`, `all`; the others' tasks return `skipped`",
    )
    refresh_interval: float = Field(
        60.0, gt=0, allow_inf_nan=False, description="seconds between beat-scheduled refresh runs"
    )
    refresh_threshold: int = Field(
        300, gt=0, description="refresh keys with fewer seconds than this left"
    )
    batch_size: int = Field(1000, ge=1, le=100_000, description="keys per batch task")
    enable_prediction: bool = Field(True, description="record accesses and allow predictive loads")
    predictive_limit: int = Field(
        1000,
        ge=1,
        description="how many top keys a predictive load considers (a load's `limit` "
        "argument overrides it, and `auto` tunes for the last load's)",
    )
    predictive_interval: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="seconds between beat-scheduled predictive loads (0: not scheduled)",
    )
    queue: str | None = Field(
        None,
        pattern=r"^[\w.:-]{1,200}$",
        description="the Celery queue every warming task is sent to (workers consume it "
        "with `-Q`); none: Celery's default queue, `celery`",
    )
    key_prefix: str = Field(
        "",
        description="prefix put before every key written, the suite's own keys included "
        "(under `django` the cache's `KEY_PREFIX` names the cache's keys)",
    )
    format: str = Field(
        "raw",
        description="how keys and values are written: `raw`, `django`, `cachelib`, or "
        "`module:attribute` of a format object",
    )
    django_cache: str = Field(
        "default",
        min_length=1,
        description="with `WARMING_FORMAT=django`: the alias in Django's `CACHES` whose "
        "format is written",
    )
    preload_by_popularity: bool = Field(
        False,
        description="preload the most-read keys first (lists the hot keys twice; "
        "`--by-popularity`/`--source-order` override it per run)",
    )
    ttl_jitter: float = Field(
        0.1,
        ge=0,
        lt=1,
        allow_inf_nan=False,
        description="an entry's TTL is drawn from `[ttl * (1 - j), ttl]` so a batch does not "
        "expire in one instant",
    )
    # "auto": the tracker keeps choosing it (``maths/tuning``); a number fixes it.
    decay_half_life: float | Literal["auto"] = Field(
        "auto",
        description="`auto`: the tracker keeps choosing how fast popularity is forgotten, "
        "from how well each candidate half-life's ranking predicted the reads that followed "
        "(see [Does it help?](../effectiveness.md)); or a number of seconds (at least 1) "
        "after which an access weighs half, fixed",
    )
    refresh_unread_after: float = Field(
        3600.0,
        ge=0,
        allow_inf_nan=False,
        description="where reads are tracked, refresh skips due keys whose decayed reads "
        "weigh less than one read this many seconds ago (`skipped_unread`); 0: refresh "
        "every due key",
    )
    tracker_max_keys: int = Field(100_000, ge=1, description="most keys kept in the frequency set")
    flush_interval: float = Field(
        5.0,
        gt=0,
        allow_inf_nan=False,
        description="seconds between background flushes of buffered accesses",
    )
    max_value_bytes: int = Field(
        1_048_576, ge=1, description="a larger value fails its key instead of being written"
    )
    source_rate: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="keys per second that every worker together may load from the source "
        "(see [The source budget](../operations.md#the-source-budget)); 0: no limit",
    )
    # Five times the longest a batch can take through its retries (about 2 min).
    run_stall_s: float = Field(
        600.0,
        ge=1,
        allow_inf_nan=False,
        description="a run with no progress for this long is closed, its unreported "
        "batches `lost` (see [Runs always report](../operations.md#runs-always-report-lost))",
    )
    stale_if_error: float = Field(
        0.0,
        ge=0,
        allow_inf_nan=False,
        description="seconds a cached value may be served past its expiry while the source "
        "cannot reload it (see [Guarantees](../guarantees.md)); 0: never",
    )

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in _REDIS_SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(_REDIS_SCHEMES)}")
        return value

    @field_validator("source")
    @classmethod
    def _source(cls, value: str | None) -> str | None:
        if value is not None and not _SOURCE_SPEC.match(value):
            raise ValueError("expected 'module:attribute', for example 'myapp.cache:Source'")
        return value

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: str | None) -> str | None:
        if value is not None:
            parse_sources(value)
        return value

    @model_validator(mode="after")
    def _one_way_to_name_sources(self) -> Settings:
        if self.source and self.sources:
            raise ValueError(
                "WARMING_SOURCE and WARMING_SOURCES are both set: name every source in "
                f"WARMING_SOURCES (e.g. main={self.source},...) and unset WARMING_SOURCE"
            )
        return self

    def source_specs(self) -> dict[str, str]:
        """Each source's name and ``module:attribute``: ``WARMING_SOURCES``, or
        ``WARMING_SOURCE`` as the one source named ``default``."""
        if self.sources:
            return parse_sources(self.sources)
        return {DEFAULT_SOURCE: self.source} if self.source else {}

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        value = value.strip()
        if value not in BUILT_IN_FORMATS and not _SOURCE_SPEC.match(value):
            raise ValueError(
                f"expected {', '.join(BUILT_IN_FORMATS)}, or 'module:attribute' of a format object"
            )
        return value

    @field_validator("decay_half_life", mode="before")
    @classmethod
    def _half_life(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            raise ValueError("expected 'auto' or a number of seconds, at least 1") from None
        if not math.isfinite(seconds) or seconds < 1:
            raise ValueError("expected 'auto' or a number of seconds, at least 1")
        return seconds

    @property
    def auto_half_life(self) -> bool:
        return self.decay_half_life == "auto"

    @field_validator("strategy", mode="before")
    @classmethod
    def _strategy(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def allows(self, strategy: Strategy | None) -> str | None:
        """Why ``strategy`` is switched off, or None when it may run (always, for
        None: a kind of run that no strategy governs, a copy)."""
        if strategy is None:
            return None
        if strategy is Strategy.PREDICTIVE and not self.enable_prediction:
            return "prediction is disabled (WARMING_ENABLE_PREDICTION=false)"
        if self.strategy not in (Strategy.ALL, strategy):
            return f"strategy {strategy.value} is off (WARMING_STRATEGY={self.strategy.value})"
        return None


def parse_sources(value: str) -> dict[str, str]:
    """``name=module:attribute,...`` as a dict, in order; ValueError naming the bad part."""
    found: dict[str, str] = {}
    for part in (p.strip() for p in value.split(",")):
        if not part:
            continue
        name, sep, spec = (p.strip() for p in part.partition("="))
        if not sep or not SOURCE_NAME.match(name) or not _SOURCE_SPEC.match(spec):
            raise ValueError(
                f"{part!r} is not name=module:attribute (a name of letters, digits, _ and -)"
            )
        if name in found:
            raise ValueError(f"the source {name!r} is named twice")
        if name == DEFAULT_SOURCE:
            raise ValueError(
                f"{DEFAULT_SOURCE!r} is the name of WARMING_SOURCE's one source: choose another"
            )
        found[name] = spec
    if not found:
        raise ValueError(
            "expected name=module:attribute,... for example 'products=shop.cache:Products'"
        )
    return found


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def _describe(error: Any, names: Mapping[str, str]) -> str:
    if not error["loc"]:  # a rule over several settings: its message names them
        return str(error["msg"]).removeprefix("Value error, ")
    field = str(error["loc"][0])
    value = error.get("input")
    if field == "redis_url" and isinstance(value, str):
        value = redact_url(value)
    reason = str(error["msg"]).removeprefix("Value error, ")
    name = names.get(field, env_name(field))
    return f"{name}={value!s} is invalid: {reason[:1].lower()}{reason[1:]}"


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise SettingsError naming the first bad one."""
    return _validated(overrides, {})


def _validated(given: Mapping[str, Any], names: Mapping[str, str]) -> Settings:
    """``Settings`` from ``given`` and the environment; ``names`` says where a given
    value came from, for the message about a bad one."""
    try:
        return Settings(**given)
    except ValidationError as exc:
        raise SettingsError(_describe(exc.errors()[0], names)) from None


def from_environment() -> Settings:
    """The settings of this process: ``WARMING_*`` environment variables over the
    ``WARMING`` dict of the Django settings module (where ``DJANGO_SETTINGS_MODULE``
    names one); under ``WARMING_FORMAT=django`` the cache URL defaults to the
    ``LOCATION`` of the ``WARMING_DJANGO_CACHE`` alias."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        return load_settings()
    from .django_settings import cache_location, warming_dict  # noqa: PLC0415 - Django only here

    given, names = {}, {}
    for key, value in warming_dict(module).items():
        field = key.lower()
        if field not in Settings.model_fields:
            raise SettingsError(
                f"WARMING[{key!r}] in {module} is invalid: no such setting "
                f"(the names are those of the WARMING_* variables, without WARMING_)"
            )
        if not os.environ.get(env_name(field)):  # the environment overrides the dict
            given[field] = value
            names[field] = f"WARMING[{key!r}] in {module}"
    settings = _validated(given, names)
    if settings.format == "django" and "redis_url" not in settings.model_fields_set:
        location = cache_location(module, settings.django_cache)
        if location is not None:
            names["redis_url"] = f"the LOCATION of CACHES[{settings.django_cache!r}] in {module}"
            settings = _validated({**given, "redis_url": location}, names)
    return settings


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once (``from_environment``)."""
    return from_environment()


def redact_url(url: str) -> str:
    """``url`` with any password (in the userinfo or a ``password=`` query) as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    netloc = parts.netloc
    if parts.password is not None:
        host = netloc.rpartition("@")[2]  # as written: a bad port must not hide the rest
        netloc = f"{parts.username or ''}:***@{host}"
    query = _QUERY_SECRET.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
