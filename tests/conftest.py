"""The fixtures of the whole suite: the Redis servers the tests start, the Celery
workers (in this process, or as processes a test may kill), the caller's app.

A module marked ``in_process`` runs its tasks on pytest-celery's session worker
(a real worker in a thread of this process, with the session app) pointed at a
Redis of the suite's own; the marker's keyword arguments are the module's
``WARMING_*`` settings. Other modules start worker processes.
"""

from __future__ import annotations

import gc
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from warming_tasks import runtime
from warming_tasks.celery_app import DEFAULTS
from warming_tasks.cli.embedded import RedisProcess, free_port

from .helpers import (
    CATALOGUE,
    SUPPORT,
    Processes,
    ServerFactory,
    Stack,
    StackFactory,
    Starter,
    caller_app,
    celery_env,
    close_app,
)


def pytest_configure(config: pytest.Config) -> None:
    # The tests' own source modules, importable here as in the worker processes.
    sys.path.insert(0, str(SUPPORT))
    # A test that forgets to name its own server must fail, not write to a Redis
    # we did not start. (Celery's own env vars stay unset: they would override the
    # client app's configuration.)
    os.environ["WARMING_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_CONFIG_MODULE"):
        os.environ.pop(name, None)


def pytest_sessionfinish() -> None:
    # A client left in a reference cycle by the end of a run is freed by the last
    # garbage collection, whose "unclosed socket" warning would fail a run whose
    # every test passed (seen once in five full runs; which test leaves it was not
    # found). Collect it here, quietly; a leak inside a test still fails that test.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def _in_process(request: pytest.FixtureRequest) -> Mapping[str, Any] | None:
    """The settings of a module marked ``in_process``, or None."""
    mark = request.node.get_closest_marker("in_process")
    return None if mark is None else mark.kwargs


# -- servers -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def session_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """The in-process worker's Redis: db 0 cache, 1 broker, 2 results."""
    server = RedisProcess(data_dir=tmp_path_factory.mktemp("session-redis")).start()
    yield server
    server.close()


@pytest.fixture(scope="module")
def redis_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RedisProcess]:
    """A redis-server of our own on a free loopback port: db 0 cache, 1 broker, 2 results
    (the session worker's own for a module marked ``in_process``)."""
    if _in_process(request) is not None:
        yield request.getfixturevalue("session_redis")
        return
    server = RedisProcess(data_dir=tmp_path_factory.mktemp("redis")).start()
    yield server
    server.close()


@pytest.fixture
def cache(redis_server: RedisProcess) -> Iterator[redis.Redis]:
    """The cache database, emptied before each test."""
    client = redis_server.client(0)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(scope="session")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A Redis no test stops: the fault sources' knobs and counters live there."""
    server = RedisProcess(data_dir=tmp_path_factory.mktemp("control")).start()
    yield server
    server.close()


@pytest.fixture
def ctl(control: RedisProcess) -> Iterator[redis.Redis]:
    """The control Redis, emptied for each test (text replies)."""
    client = redis.Redis.from_url(control.url(0), decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerFactory]:
    """Start redis-servers of the test's own; all are stopped and removed afterwards."""
    started: list[RedisProcess] = []

    def start(
        name: str, extra_args: list[str] | None = None, port: int | None = None
    ) -> RedisProcess:
        server = RedisProcess(port=port, data_dir=tmp_path / name, extra_args=extra_args)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop(kill=True)


@pytest.fixture
def make_stack(
    servers: ServerFactory, control: RedisProcess, ctl: redis.Redis
) -> Iterator[StackFactory]:
    """A cache Redis and a broker Redis of the test's own (results on the broker's
    server unless ``own_backend``); ``*_args`` are extra redis-server arguments."""
    made: list[Stack] = []

    def make(
        cache_args: list[str] | None = None,
        broker_args: list[str] | None = None,
        own_backend: bool = False,
    ) -> Stack:
        broker = servers("broker", broker_args)
        backend = servers("backend") if own_backend else broker
        stack = Stack(servers("cache", cache_args), broker, backend, control)
        made.append(stack)
        return stack

    yield make
    for stack in made:
        for app in stack.apps:
            close_app(app)
        for client in stack.clients:
            client.close()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    """A plain cache Redis and a separate broker Redis (results on it too)."""
    return make_stack()


# -- the in-process worker (pytest-celery) ---------------------------------------------


@pytest.fixture(scope="session")
def celery_config(session_redis: RedisProcess) -> dict[str, Any]:
    return DEFAULTS | {"broker_url": session_redis.url(1), "result_backend": session_redis.url(2)}


@pytest.fixture(scope="session")
def celery_includes() -> list[str]:
    return ["warming_tasks.tasks", "summary_receiver"]


@pytest.fixture(scope="session")
def celery_worker_parameters() -> dict[str, Any]:
    # A batch in flight at the end of the session is left to the broker. The
    # worker sets the root logger's level: WARNING, as Python's default, so the
    # tests that read what the suite logs see its warnings.
    return {"shutdown_timeout": 10.0, "loglevel": "WARNING"}


@pytest.fixture(scope="module")
def in_process_app(request: pytest.FixtureRequest) -> Iterator[Celery]:
    """The session app, its worker running, with the module's WARMING_* settings."""
    settings = _in_process(request)
    assert settings is not None, "only for modules marked in_process"
    server: RedisProcess = request.getfixturevalue("session_redis")
    app: Celery = request.getfixturevalue("celery_session_app")
    request.getfixturevalue("celery_session_worker")
    env = {"WARMING_REDIS_URL": server.url(0), "WARMING_SOURCE": CATALOGUE}
    env |= {k: str(v) for k, v in settings.items()}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        runtime.reset()
        yield app
    runtime.reset()


@pytest.fixture(autouse=True)
def _in_process_worker(request: pytest.FixtureRequest) -> None:
    """Every test of a module marked ``in_process`` has the worker and its settings."""
    if _in_process(request) is not None:
        request.getfixturevalue("in_process_app")


@pytest.fixture(scope="module")
def client_app(request: pytest.FixtureRequest, redis_server: RedisProcess) -> Iterator[Celery]:
    """The caller's side: an app of its own that enqueues by task name, as users do
    (the session app, in a module marked ``in_process``)."""
    if _in_process(request) is not None:
        yield request.getfixturevalue("in_process_app")
        return
    app = caller_app(redis_server.url(1), redis_server.url(2))
    yield app
    app.close()


# -- worker and beat processes ---------------------------------------------------------


@pytest.fixture(scope="module")
def start_worker(
    redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Starter]:
    """Start real worker processes with settings; all are stopped after the module."""
    processes = Processes(tmp_path_factory.mktemp("workers"))

    def start(concurrency: int = 2, wait: bool = True, **settings: object) -> Any:
        return processes.worker(celery_env(redis_server, **settings), concurrency, wait)

    yield start
    processes.stop_all()


@pytest.fixture(scope="module")
def start_beat(
    redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Starter]:
    processes = Processes(tmp_path_factory.mktemp("beat"))

    def start(**settings: object) -> Any:
        return processes.beat(celery_env(redis_server, **settings))

    yield start
    processes.stop_all()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    """Worker and beat processes of one test, stopped (and checked gone) at its end."""
    processes = Processes(tmp_path / "procs")
    yield processes
    processes.stop_all()
