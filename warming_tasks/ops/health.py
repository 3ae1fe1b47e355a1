"""``warming-tasks check``: is this stack able to warm? The settings, the cache
Redis and its eviction policy, the source and format, the broker and the result
backend, each one line, passwords never shown. Usable as a container health check."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from urllib.parse import urlsplit

from celery import Celery

from ..errors import WarmingError
from ..runtime import get_format, get_own_store, get_settings, get_sources
from ..settings import Settings, redact_url
from ..source import DataSource, load_batch
from ..store import CacheStore
from .agreement import CONTROL_COMMAND, PROBE_KEY
from .checks import eviction_warning, key_miss_warning, listener_seen

BROKER_TIMEOUT_S = 3.0
TTL_SAMPLE = 5  # hot keys whose TTLs `check` looks at: a few rows from the source


@dataclass(frozen=True)
class Check:
    """One thing checked: what, and the problem found (None: fine)."""

    what: str
    problem: str | None = None

    @property
    def line(self) -> str:
        return f"{self.what}: {self.problem}" if self.problem else f"{self.what}: ok"


def run_checks(app: Celery) -> list[Check]:
    """Every check, in the order an operator would fix them; no password in any."""
    try:
        settings = get_settings()
    except WarmingError as exc:
        checks = [Check("settings", str(exc)), *_celery_checks(app)]
        urls = [str(app.conf.broker_url), str(app.conf.result_backend)]
    else:
        checks = [
            Check("settings"),
            *_cache_checks(settings),
            *_code_checks(settings),
            *_celery_checks(app),
            *_parity_checks(app, settings),
        ]
        urls = [settings.redis_url, str(app.conf.broker_url), str(app.conf.result_backend)]
    secrets = [p for p in (_password(u) for u in urls) if p]
    return [Check(c.what, _scrub(c.problem, secrets)) for c in checks]


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _scrub(problem: str | None, secrets: list[str]) -> str | None:
    """An error message may quote what it was given: never a password."""
    if problem is None:
        return None
    for secret in secrets:
        problem = problem.replace(secret, "***")
    return problem


def _cache_checks(settings: Settings) -> Iterator[Check]:
    where = f"cache {redact_url(settings.redis_url)}"
    try:
        store = get_own_store()
        store.client.ping()
        policy = eviction_warning(store)
    except Exception as exc:
        yield Check(where, f"unreachable: {_one_line(exc)}")
        return
    yield Check(where)
    yield Check("eviction policy", policy)
    yield from _listen_checks(store)


def _listen_checks(store: CacheStore) -> Iterator[Check]:
    """Where ``warming-tasks listen`` runs (or ran within a day): are key misses published?"""
    try:
        if not listener_seen(store, time.time()):
            return
        problem = key_miss_warning(store)
    except Exception as exc:
        yield Check("key-miss notifications", f"cannot be read: {_one_line(exc)}")
        return
    yield Check("key-miss notifications", problem)


def _code_checks(settings: Settings) -> Iterator[Check]:
    # The format first: under Django it sets Django up, which a source that imports
    # its models at the top of its module needs before it is imported.
    yield _attempt(f"format {settings.format}", get_format)
    specs = settings.source_specs()
    if not specs:
        yield Check("source", "WARMING_SOURCE is not set: runs would fail")
        return
    try:
        sources = get_sources()
    except Exception as exc:
        yield Check(f"source {_named(specs)}", _one_line(exc))
        return
    one = bool(settings.source)  # WARMING_SOURCE: the one source, named as it was set
    for name, named in sources.items():
        yield Check(f"source {specs[name]}" if one else f"source {name}={specs[name]}")
        threshold = named.settings.refresh_threshold
        label = "source TTLs" if one else f"source {name} TTLs"
        yield Check(label, _short_ttls(named.source, threshold))


def _named(specs: dict[str, str]) -> str:
    return (
        ", ".join(f"{n}={spec}" for n, spec in specs.items())
        if len(specs) > 1
        else next(iter(specs.values()))
    )


def _short_ttls(source: DataSource, threshold_s: int) -> str | None:
    """A problem when the TTLs the source gives a few hot keys are at or below the
    refresh threshold: every refresh would find those keys due and reload them."""
    try:
        keys = list(islice(source.hot_keys(), TTL_SAMPLE))
        loaded = load_batch(source, keys)
    except Exception as exc:
        return f"could not load a sample of hot keys: {_one_line(exc)}"
    if loaded.failed:
        key, reason = next(iter(loaded.failed.items()))
        return (
            f"{len(loaded.failed)} of {len(keys)} sampled hot keys failed to load: {key}: {reason}"
        )
    ttls = [ttl for _, ttl in loaded.entries.values()]
    short = [ttl for ttl in ttls if ttl <= threshold_s]
    if not short:
        return None
    return (
        f"{len(short)} of {len(ttls)} sampled keys have a TTL of {min(short)} s, at or below "
        f"WARMING_REFRESH_THRESHOLD={threshold_s}: every refresh would reload them; "
        "lower the threshold below the TTLs"
    )


def _celery_checks(app: Celery) -> Iterator[Check]:
    broker = f"broker {redact_url(str(app.conf.broker_url))}"

    def reach_broker() -> None:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, timeout=BROKER_TIMEOUT_S)

    yield _attempt(broker, reach_broker, "unreachable: ")
    backend = app.backend
    where = f"result backend {redact_url(str(app.conf.result_backend))}"
    if type(backend).__name__ == "DisabledBackend":
        yield Check(where, "none is configured: runs could not return their summaries")
    elif str(app.conf.result_backend).startswith("rpc"):
        yield Check(where)  # the broker carries the results: checked above
    else:
        # Any backend answers a lookup of an id nobody used: PENDING, or an error.
        probe = f"warming-check-{uuid.uuid4()}"
        yield _attempt(where, lambda: backend.get_task_meta(probe), "unreachable: ")


def _attempt(what: str, call: Callable[[], object], prefix: str = "") -> Check:
    try:
        call()
    except Exception as exc:
        return Check(what, f"{prefix}{_one_line(exc)}")
    return Check(what)


def _one_line(exc: BaseException) -> str:
    message = " ".join(str(exc).split()) or type(exc).__name__
    return message if isinstance(exc, WarmingError) else f"{type(exc).__name__}: {message}"


def _parity_checks(app: Celery, settings: Settings) -> Iterator[Check]:
    """Where an application's cache backend said how it names a key (it counts reads
    through warming-tasks), the workers must name it alike, or the application never
    reads what they warm. Only the backends the workers write for are compared: the
    ``WARMING_DJANGO_CACHE`` alias under the django format, Flask-Caching's under
    cachelib."""
    try:
        recorded = get_own_store().parity()
    except Exception:
        return  # the cache check above says why
    theirs, whose, fmt = _workers_probe(app)
    if theirs is None:
        try:
            theirs, whose = str(get_format().redis_key(PROBE_KEY)), "this process's format"
        except Exception:
            return  # the format check above says why
        fmt = settings.format
    problems = [
        f"{backend} reads {PROBE_KEY} at {named.get('probe')} (recorded "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(float(named.get('at', 0))))}); "
        f"{whose} writes it at {theirs}"
        for backend, named in recorded.items()
        if _compared(named, fmt, settings) and named.get("probe") != theirs
    ]
    if recorded:
        yield Check("key parity", "; ".join(problems) or None)


def _compared(named: dict[str, object], fmt: str, settings: Settings) -> bool:
    if named.get("framework") == "django":
        return fmt == "django" and named.get("alias") in (None, settings.django_cache)
    if named.get("framework") == "flask":
        return fmt == "cachelib"
    return False


def _workers_probe(app: Celery) -> tuple[str | None, str, str]:
    """The probe key and format of the first worker to answer, or None."""
    try:
        answers = app.control.broadcast(
            CONTROL_COMMAND, reply=True, timeout=BROKER_TIMEOUT_S / 3, limit=1
        )
    except Exception:
        return None, "", ""
    for answer in answers or []:
        for worker, described in answer.items():
            if isinstance(described, dict) and "probe" in described:
                return str(described["probe"]), f"the worker {worker}", str(described["format"])
    return None, "", ""
