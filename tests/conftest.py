from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest
import redis
from celery import Celery

from warming_tasks.app import DEFAULTS
from warming_tasks.embedded import RedisProcess

from .helpers import CeleryProcess, beat, worker

CATALOGUE = "fixture_sources:Catalogue"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A redis-server of our own on a free loopback port: db 0 cache, 1 broker, 2 results."""
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


def celery_env(server: RedisProcess, **settings: object) -> dict[str, str]:
    env = {
        "WARMING_REDIS_URL": server.url(0),
        "CELERY_BROKER_URL": server.url(1),
        "CELERY_RESULT_BACKEND": server.url(2),
        "WARMING_SOURCE": CATALOGUE,
    }
    env.update({k: str(v) for k, v in settings.items()})
    return env


@pytest.fixture(scope="module")
def client_app(redis_server: RedisProcess) -> Iterator[Celery]:
    """The caller's side: an app of its own that enqueues by task name, as users do."""
    app = Celery("caller", set_as_current=False)
    app.conf.update(DEFAULTS, broker_url=redis_server.url(1), result_backend=redis_server.url(2))
    yield app
    app.close()


Starter = Callable[..., CeleryProcess]


@pytest.fixture(scope="module")
def start_worker(
    redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Starter]:
    """Start real worker processes with settings; all are stopped after the module."""
    started: list[CeleryProcess] = []
    workdir: Path = tmp_path_factory.mktemp("workers")

    def start(concurrency: int = 2, wait: bool = True, **settings: object) -> CeleryProcess:
        proc = worker(celery_env(redis_server, **settings), workdir, concurrency)
        started.append(proc)
        return proc.start(wait_for=proc.READY if wait else None)

    yield start
    _stop_all(started)


@pytest.fixture(scope="module")
def start_beat(
    redis_server: RedisProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Starter]:
    started: list[CeleryProcess] = []
    workdir: Path = tmp_path_factory.mktemp("beat")

    def start(**settings: object) -> CeleryProcess:
        proc = beat(celery_env(redis_server, **settings), workdir)
        started.append(proc)
        return proc.start(wait_for="beat: Starting...")

    yield start
    _stop_all(started)


def _stop_all(processes: list[CeleryProcess]) -> None:
    pids = [p.process.pid for p in processes if p.process is not None]
    family = [child.pid for p in processes if p.process is not None for child in p.children()]
    for proc in processes:
        proc.stop()
    leftovers = [pid for pid in pids + family if psutil.pid_exists(pid) and _alive(pid)]
    assert not leftovers, f"processes left behind: {leftovers}"


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def pytest_configure(config: pytest.Config) -> None:
    import os
    import sys

    from warming_tasks.embedded import free_port

    from .helpers import SUPPORT

    # The tests' own source modules, importable here as in the worker processes.
    sys.path.insert(0, str(SUPPORT))
    # A test that forgets to name its own server must fail, not write to a Redis
    # we did not start. (Celery's own env vars stay unset: they would override the
    # client app's configuration.)
    os.environ["WARMING_REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "CELERY_CONFIG_MODULE"):
        os.environ.pop(name, None)
