"""What the tests share: real worker and beat processes, the stack of servers a
test points them at, the CLI as a user runs it, and waiting on conditions."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis
from celery import Celery
from celery.exceptions import TimeoutError as CeleryTimeout

from warming_tasks.celery_app import DEFAULTS
from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.tracker import AccessTracker

from .support.fault_sources import LOADING_KEY

SUPPORT = Path(__file__).parent / "support"
REPO = Path(__file__).parent.parent
CATALOGUE = "fixture_sources:Catalogue"
# What the fault tests' processes load as their celeryconfig (fast broker retries).
CONFIG_MODULE = "faults_celeryconfig"
# A redis-server that comes back from a restart with what it had.
PERSISTENT = ["--save", "", "--appendonly", "yes", "--appendfsync", "always"]


def wait_until(check: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout:g} s: {what}")


def celery_env(server: RedisProcess, **settings: object) -> dict[str, str]:
    """A worker's or the CLI's environment: cache on db 0, broker 1, results 2."""
    env = {
        "WARMING_REDIS_URL": server.url(0),
        "CELERY_BROKER_URL": server.url(1),
        "CELERY_RESULT_BACKEND": server.url(2),
        "WARMING_SOURCE": CATALOGUE,
    }
    env.update({k: str(v) for k, v in settings.items()})
    return env


def caller_app(broker_url: str, backend_url: str) -> Celery:
    """The application's side: an app of its own that enqueues by task name, as users do."""
    app = Celery("caller", set_as_current=False)
    app.conf.update(DEFAULTS, broker_url=broker_url, result_backend=backend_url)
    return app


def close_app(app: Celery) -> None:
    """Close a caller's app and its result backend's connections (``app.close``
    leaves those to the garbage collector, which warns)."""
    backend = app.__dict__.get("_local") and getattr(app._local, "backend", None)
    client = getattr(backend, "client", None)
    if isinstance(client, redis.Redis):
        client.close()
        client.connection_pool.disconnect()
    app.close()


def process_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child process: ours minus WARMING_/CELERY_/TEST_, plus ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("WARMING_", "CELERY_", "TEST_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(SUPPORT), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def cli(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m warming_tasks ARGS`` as a user runs it: its output and exit code."""
    return run_module("warming_tasks", *args, env=env, cwd=cwd, timeout=timeout)


def run_module(
    module: str, *args: str, env: Mapping[str, str], cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` in a process of its own (the tests' support modules
    importable): its output and exit code."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=process_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class CeleryProcess:
    """``celery -A warming_tasks <command>`` in a directory of its own, logging to a file."""

    READY = "ready."

    def __init__(
        self,
        command: list[str],
        env: Mapping[str, str],
        workdir: Path,
        app: str = "warming_tasks",
    ) -> None:
        self.command = command
        self.app = app
        self.env = process_env(env)
        self.workdir = workdir
        self.log_path = workdir / f"{command[0]}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_for: str | None = READY, timeout: float = 30) -> CeleryProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", self.app, *self.command],
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        if wait_for:
            self.wait_for(wait_for, timeout)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def wait_for(self, text: str, timeout: float = 30) -> None:
        def seen() -> bool:
            if text in self.log():
                return True
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"{self.command[0]} exited early")
            return False

        try:
            wait_until(seen, timeout, f"{text!r} in the {self.command[0]} log")
        except AssertionError as exc:
            raise AssertionError(f"{exc}:\n{self.log()[-3000:]}") from None

    def children(self) -> list[psutil.Process]:
        assert self.process is not None
        try:
            children: list[psutil.Process] = psutil.Process(self.process.pid).children(
                recursive=True
            )
            return children
        except psutil.NoSuchProcess:
            return []

    def stop(self, timeout: float = 15) -> None:
        """Stop gracefully, then by force; leave no process behind."""
        if self.process is None:
            return
        family = self.children()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _, alive = psutil.wait_procs(family, timeout=5)
        for child in alive:
            child.kill()
        self.process = None


def worker(env: Mapping[str, str], workdir: Path, concurrency: int = 2) -> CeleryProcess:
    name = f"w{time.monotonic_ns()}@%h"
    command = [
        "worker",
        "-c",
        str(concurrency),
        "-l",
        "info",
        "-n",
        name,
        "--without-mingle",
        "--without-gossip",
    ]
    return CeleryProcess(command, env, workdir)


def beat(env: Mapping[str, str], workdir: Path) -> CeleryProcess:
    schedule = workdir / f"beat-schedule-{time.monotonic_ns()}"
    return CeleryProcess(["beat", "-l", "info", "-s", str(schedule)], env, workdir)


class Processes:
    """Worker and beat processes started for a test or a module, all stopped (and
    checked gone) by ``stop_all``."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[CeleryProcess] = []

    def worker(
        self, env: Mapping[str, str], concurrency: int = 2, wait: bool = True
    ) -> CeleryProcess:
        proc = worker(env, self.workdir, concurrency)
        self.started.append(proc)
        return proc.start(wait_for=proc.READY if wait else None)

    def beat(self, env: Mapping[str, str]) -> CeleryProcess:
        proc = beat(env, self.workdir)
        self.started.append(proc)
        return proc.start(wait_for="beat: Starting...")

    def stop_all(self) -> None:
        alive = [p for p in self.started if p.process is not None]
        pids = [p.process.pid for p in alive if p.process is not None]
        family = [child.pid for p in alive for child in p.children()]
        for proc in self.started:
            proc.stop()
        leftovers = [pid for pid in pids + family if _alive(pid)]
        assert not leftovers, f"processes left behind: {leftovers}"


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


Starter = Callable[..., CeleryProcess]


@dataclass
class Stack:
    """Where a test's processes point: the cache, the broker, the results, the control."""

    cache: RedisProcess
    broker: RedisProcess
    backend: RedisProcess
    control: RedisProcess
    apps: list[Celery] = field(default_factory=list)
    clients: list[redis.Redis] = field(default_factory=list)

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
        app = caller_app(self.broker.url(1), self.backend.url(2))
        self.apps.append(app)
        return app

    def cache_client(self) -> redis.Redis:
        """A client of the cache, closed with the stack."""
        client = self.cache.client(0)
        self.clients.append(client)
        return client


ServerFactory = Callable[..., RedisProcess]
StackFactory = Callable[..., Stack]


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


def record_reads(cache: redis.Redis, reads: Mapping[str, int]) -> None:
    """The application reads each key ``reads[key]`` times now, through the tracker."""
    kwargs = cache.connection_pool.connection_kwargs
    url = f"redis://{kwargs['host']}:{kwargs['port']}/{kwargs.get('db', 0)}"
    app_reads = AccessTracker(load_settings(redis_url=url))
    for key, n in reads.items():
        for _ in range(n):
            app_reads.track(key)
    assert app_reads.flush() == sum(reads.values())


def nothing_to_run(app: Celery, broker: redis.Redis, workers: int, queue: str = "celery") -> bool:
    """No task left anywhere: none queued in the broker (``queue``: Celery's default,
    which every task of a stack without WARMING_QUEUE goes to), none delivered and
    awaiting its ack, and none held by any of the ``workers`` (running, reserved, or
    waiting for its ETA). The broker is read before and after the workers answer, so
    a message moving from the queue to a worker between two reads is seen."""

    def broker_empty() -> bool:
        # kombu's Redis transport keeps delivered, unacknowledged messages in "unacked".
        return not broker.llen(queue) and not broker.hlen("unacked")

    if not broker_empty():
        return False
    inspect = app.control.inspect(timeout=2, limit=workers)
    for reply in (inspect.active(), inspect.reserved(), inspect.scheduled()):
        if reply is None or len(reply) < workers or any(reply.values()):
            return False
    return broker_empty()


def running_batches(
    app: Celery, workers: int, count: int, timeout: float = 30
) -> dict[int, tuple[str, list[str]]]:
    """The ``count`` batches the ``workers`` are running, once they report each with
    the pool process it runs in (a task is listed before that is known): the pid of
    that process -> (the batch's task id, its keys)."""

    def reported() -> dict[int, tuple[str, list[str]]]:
        reply = app.control.inspect(timeout=2, limit=workers).active() or {}
        running = {
            task["worker_pid"]: (task["id"], list(task["args"][2]))
            for tasks in reply.values()
            for task in tasks
            if task["name"].endswith("_batch") and task["worker_pid"]
        }
        return running if len(running) == count else {}

    found: dict[int, tuple[str, list[str]]] = wait_until(
        reported, timeout, f"{count} batches reported running"
    )
    return found


def preload_until_held(
    stack: Stack, procs: Processes, ctl: redis.Redis, env: Mapping[str, str], held: list[list[str]]
) -> tuple[CeleryProcess, Any, dict[int, tuple[str, list[str]]]]:
    """A worker with two pool children starts a preload whose ``held`` batches the
    fault source holds (``hold_keys``); once each child holds one, the worker, the
    run's result and the running batches (``running_batches``)."""
    worker = procs.worker(env, concurrency=2)
    caller = stack.caller()
    result = caller.send_task("warming_tasks.preload")
    wait_until(lambda: ctl.llen(LOADING_KEY) == 2, 30, "both pool children in a held batch")
    running = running_batches(caller, workers=1, count=2)
    assert sorted(keys for _, keys in running.values()) == held
    return worker, result, running
