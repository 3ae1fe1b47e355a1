"""Fixtures of the fault-injection suite: servers the tests start, stop and kill;
worker and beat processes; a control Redis the test sources count into.

Run the suite alone with ``pytest -m faults`` (or ``pytest tests/faults``).
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout

from warming_tasks.app import DEFAULTS
from warming_tasks.embedded import RedisProcess
from warming_tasks.store import CacheStore

from ..conftest import _stop_all
from ..helpers import CeleryProcess, beat, worker

PERSISTENT = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]
CONFIG_MODULE = "faults_celeryconfig"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "faults: fault injection with real redis-server, worker and beat processes"
    )


@pytest.fixture(scope="session")
def control(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisProcess]:
    """A Redis no test stops: the test sources' knobs and counters live there."""
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


ServerFactory = Callable[..., RedisProcess]


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


@dataclass
class Stack:
    """Where a test's processes point: the cache, the broker, the results, the control."""

    cache: RedisProcess
    broker: RedisProcess
    backend: RedisProcess
    control: RedisProcess
    apps: list[Celery] = field(default_factory=list)

    def env(self, source: str = "fault_sources:Counting", **settings: object) -> dict[str, str]:
        env = {
            "WARMING_REDIS_URL": self.cache.url(0),
            "CELERY_BROKER_URL": self.broker.url(1),
            "CELERY_RESULT_BACKEND": self.backend.url(2),
            "CELERY_CONFIG_MODULE": CONFIG_MODULE,
            "WARMING_SOURCE": source,
            "FAULTS_CONTROL_URL": self.control.url(0),
        }
        env.update({k: str(v) for k, v in settings.items()})
        return env

    def caller(self) -> Celery:
        """The application's side: enqueues by task name and reads results."""
        app = Celery("caller", set_as_current=False)
        app.conf.update(DEFAULTS, broker_url=self.broker.url(1), result_backend=self.backend.url(2))
        self.apps.append(app)
        return app

    def cache_client(self) -> redis.Redis:
        return self.cache.client(0)


StackFactory = Callable[..., Stack]


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
        s = Stack(servers("cache", cache_args), broker, backend, control)
        made.append(s)
        return s

    yield make
    for s in made:
        for app in s.apps:
            app.close()


@pytest.fixture
def stack(make_stack: StackFactory) -> Stack:
    """A plain cache Redis and a separate broker Redis (results on it too)."""
    return make_stack()


class Procs:
    """Worker and beat processes of one test, stopped (and checked gone) at its end."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[CeleryProcess] = []

    def worker(self, env: dict[str, str], concurrency: int = 2, wait: bool = True) -> CeleryProcess:
        proc = worker(env, self.workdir, concurrency)
        self.started.append(proc)
        return proc.start(wait_for=proc.READY if wait else None)

    def beat(self, env: dict[str, str]) -> CeleryProcess:
        proc = beat(env, self.workdir)
        self.started.append(proc)
        return proc.start(wait_for="beat: Starting...")


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    p = Procs(tmp_path / "procs")
    yield p
    _stop_all(p.started)


def kill_family(proc: CeleryProcess) -> list[int]:
    """SIGKILL a worker and every process under it at once, as a host crash would."""
    assert proc.process is not None
    family = [proc.process.pid, *(c.pid for c in proc.children())]
    for pid in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).send_signal(signal.SIGKILL)
    proc.process.wait(timeout=10)
    _, alive = psutil.wait_procs([p for p in map(_process, family) if p is not None], timeout=10)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    proc.process = None
    return family


def _process(pid: int) -> psutil.Process | None:
    try:
        return psutil.Process(pid)
    except psutil.NoSuchProcess:
        return None


def warming_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("warming-tasks:")]


def as_text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def count_cached(client: redis.Redis, keys: list[str]) -> int:
    return int(sum(client.exists(*keys[i : i + 500]) for i in range(0, len(keys), 500)))


def await_summary(
    result: Any, timeout: float, cache: redis.Redis, *workers: CeleryProcess
) -> dict[str, Any]:
    """The run's summary; on a timeout, fail with the run's record and the workers' logs."""
    try:
        summary: dict[str, Any] = result.get(timeout=timeout)
    except CeleryTimeout:
        state = CacheStore(cache).run_state(result.id)
        logs = "\n---\n".join(w.log()[-3000:] for w in workers)
        raise AssertionError(f"no summary in {timeout:g} s; run record {state}\n{logs}") from None
    return summary
