"""The data source: its protocol, the ``module:attribute`` loader, and loading a
batch so that one bad key fails alone."""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .django_settings import set_up as set_up_django
from .errors import SourceError, SourceRefused, SourceUnavailable, WarmingError
from .maths.throttle import Throttle

log = logging.getLogger("warming_tasks")
_tracebacks = Throttle(limit=1, period_s=60)


@runtime_checkable
class DataSource(Protocol):
    """What warming-tasks needs from the application: ``hot_keys`` and at least one of
    ``load`` / ``load_many`` (the fast path; a batch-only source is complete)."""

    def hot_keys(self) -> Iterable[str]:
        """The keys to preload and keep fresh; may be a generator of millions."""
        ...

    def load(self, key: str) -> tuple[Any, int] | None:
        """``(value, ttl seconds)`` for ``key``, or None when there is no data. The value
        is ``str``/``bytes`` under ``WARMING_FORMAT=raw``, else any object the
        application's cache framework stores."""
        ...


def load_source(spec: str | None, setting: str = "WARMING_SOURCE") -> DataSource:
    """Build the source named ``module:attribute`` (an instance, class or factory);
    ``setting`` is how an error names where the spec came from."""
    if not spec:
        raise SourceError("WARMING_SOURCE is not set: name your data source as 'module:attribute'")
    set_up_django()  # a Django source may import its models at the top of its module
    target = load_object(spec, setting, _looks_like_source, SourceError)
    missing = _missing_methods(target)
    if missing:
        raise SourceError(f"{setting}={spec} is invalid: {type(target).__name__} {missing}")
    return target  # type: ignore[no-any-return]


def load_object(
    spec: str,
    setting: str,
    looks_right: Callable[[Any], bool],
    error: type[WarmingError] = SourceError,
) -> Any:
    """The object ``module:attribute`` names; a class, or a factory that is not
    itself what ``looks_right`` wants, is called (with no arguments) for it."""
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise error(
            f"{setting}={spec} is invalid: module {module_name!r} cannot be imported "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise error(
                f"{setting}={spec} is invalid: module {module_name!r} has no {attribute!r}"
            ) from None
    if inspect.isclass(target) or (callable(target) and not looks_right(target)):
        try:
            target = target()
        except Exception as exc:
            raise error(
                f"{setting}={spec} is invalid: calling it failed ({type(exc).__name__}: {exc})"
            ) from exc
    return target


def _has(obj: Any, name: str) -> bool:
    return callable(getattr(obj, name, None))


def _missing_methods(obj: Any) -> str | None:
    """What a source lacks, said as the start-up check says it; None when complete."""
    lacks = [] if _has(obj, "hot_keys") else ["hot_keys()"]
    if not (_has(obj, "load") or _has(obj, "load_many")):
        lacks.append("load() or load_many()" if lacks else "neither load() nor load_many()")
    if not lacks:
        return None
    if lacks == ["hot_keys()"]:
        return "has no hot_keys()"
    if lacks[0] == "hot_keys()":
        return f"has no hot_keys() and no {lacks[1]}"
    return f"has {lacks[0]}"


def _looks_like_source(obj: Any) -> bool:
    return not inspect.isclass(obj) and _missing_methods(obj) is None


@dataclass
class Loaded:
    """What loading a batch of keys gave: the source's (value, ttl) entries, keys
    without data, failures with their reasons."""

    entries: dict[str, tuple[Any, int]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def check_entry(entry: Any) -> str | None:
    """Why ``entry`` is not a ``(value, ttl)`` pair with a positive int TTL, or None.

    The value is the format's to judge (``formats``)."""
    # The common case first, cheaply: this runs for every key of every batch.
    if type(entry) is tuple and len(entry) == 2:  # noqa: PLR2004 - an entry is a (value, ttl) pair
        ttl = entry[1]
        if type(ttl) is int and ttl > 0:
            return None
    if not isinstance(entry, tuple | list) or len(entry) != 2:  # noqa: PLR2004 - a (value, ttl) pair
        return f"expected (value, ttl), got {type(entry).__name__}"
    ttl = entry[1]
    if isinstance(ttl, bool) or not isinstance(ttl, int):
        return f"ttl must be a positive int, got {type(ttl).__name__} {ttl!r}"
    if ttl <= 0:
        return f"ttl must be a positive int, got {ttl}"
    return None


def _log_traceback(message: str, *args: object, exc: BaseException) -> None:
    """The source's own traceback, where its bug is: the first failure, then at
    most one a minute (a summary's reasons are one line each)."""
    if not logging.getLogger().handlers and not log.handlers:
        return  # no log to write to (the CLI): the key's reason says it in one line
    allowed, held = _tracebacks.allow()
    if allowed:
        more = f" ({held} more failures since the last traceback)" if held else ""
        log.warning(f"warming-tasks: the source: {message}{more}", *args, exc_info=exc)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


def load_batch(source: DataSource, keys: Sequence[str]) -> Loaded:
    """Load ``keys`` through ``load_many`` when the source has it, else ``load`` per key.

    A ``load_many`` that raises is retried key by key, so one bad key cannot fail
    its neighbours.
    """
    load_many = getattr(source, "load_many", None)
    if callable(load_many):
        try:
            found = load_many(keys)
            if not isinstance(found, Mapping):
                raise TypeError(f"load_many returned {type(found).__name__}, not a mapping")
        except SourceUnavailable:
            raise  # retried as a whole, later: no key is at fault
        except SourceRefused as exc:
            refused = Loaded()  # no key is at fault either: one reason for all
            refused.failed = dict.fromkeys(keys, _reason(exc))
            return refused
        except Exception as exc:
            _log_traceback(
                "load_many of a batch of %d keys failed; loading them one by one",
                len(keys),
                exc=exc,
            )
            return _load_each(source, keys)
        loaded = Loaded()
        for key in keys:
            if key not in found or found[key] is None:
                loaded.missing.append(key)
            else:
                _accept(loaded, key, found[key])
        return loaded
    return _load_each(source, keys)


def _load_each(source: DataSource, keys: Sequence[str]) -> Loaded:
    """One key at a time: ``load``, or ``load_many([key])`` for a batch-only source."""
    loaded = Loaded()
    load = getattr(source, "load", None)
    for key in keys:
        try:
            if callable(load):
                entry = load(key)
            else:
                found = source.load_many([key])  # type: ignore[attr-defined]
                entry = found.get(key) if isinstance(found, Mapping) else None
        except SourceUnavailable:
            raise
        except Exception as exc:
            _log_traceback("loading key %r failed", key, exc=exc)
            loaded.failed[key] = _reason(exc)
            continue
        if entry is None:
            loaded.missing.append(key)
        else:
            _accept(loaded, key, entry)
    return loaded


def _accept(loaded: Loaded, key: str, entry: Any) -> None:
    problem = check_entry(entry)
    if problem is None:
        loaded.entries[key] = (entry[0], entry[1])
    else:
        loaded.failed[key] = problem
