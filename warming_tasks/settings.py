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

    redis_url: str = "redis://localhost:6379/0"
    redis_cluster: bool = False
    source: str | None = None
    # Several named sources, "name=module:attribute,...": see ``source_specs``.
    sources: str | None = None
    strategy: Strategy = Strategy.ALL
    refresh_interval: float = Field(60.0, gt=0, allow_inf_nan=False)
    refresh_threshold: int = Field(300, gt=0)
    batch_size: int = Field(1000, ge=1, le=100_000)
    enable_prediction: bool = True
    predictive_limit: int = Field(1000, ge=1)
    predictive_interval: float = Field(0.0, ge=0, allow_inf_nan=False)
    key_prefix: str = ""
    preload_by_popularity: bool = False
    ttl_jitter: float = Field(0.1, ge=0, lt=1, allow_inf_nan=False)
    # "auto": the tracker keeps choosing it (``maths/tuning``); a number fixes it.
    decay_half_life: float | Literal["auto"] = "auto"
    # Refresh skips due keys the application has not read for this long (0: never).
    refresh_unread_after: float = Field(3600.0, ge=0, allow_inf_nan=False)
    tracker_max_keys: int = Field(100_000, ge=1)
    flush_interval: float = Field(5.0, gt=0, allow_inf_nan=False)
    max_value_bytes: int = Field(1_048_576, ge=1)
    # Keys per second that every worker together may load from the source (0: no limit).
    source_rate: float = Field(0.0, ge=0, allow_inf_nan=False)
    # A run with no progress for this long is closed, its missing batches `lost`:
    # five times the longest a batch can take through its retries (about 2 min).
    run_stall_s: float = Field(600.0, ge=1, allow_inf_nan=False)
    # Seconds a refresh may keep serving a value past its expiry while the source
    # cannot reload it (0: never).
    stale_if_error: float = Field(0.0, ge=0, allow_inf_nan=False)
    queue: str | None = Field(None, pattern=r"^[\w.:-]{1,200}$")
    format: str = "raw"
    django_cache: str = Field("default", min_length=1)

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

    def allows(self, strategy: Strategy) -> str | None:
        """Why ``strategy`` is switched off, or None when it may run."""
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
