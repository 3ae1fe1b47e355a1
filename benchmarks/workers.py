"""The harness's own servers and workers: nothing here touches a Redis it did not start."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from celery import Celery

from warming_tasks.celery_app import DEFAULTS
from warming_tasks.cli.embedded import RedisProcess, worker_command

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "benchmarks.sources:InstantSource"


def run_first(pid: int) -> bool:
    """Let ``pid`` run before the benchmark's other processes (SCHED_FIFO), as it
    would on a core of its own in production, where allowed (root): on two shared
    cores a Redis that waits for a core looks like a Redis whose commands are slow.
    False where not allowed."""
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(1))
    except PermissionError:
        return False
    return True


def bench_env(
    server: RedisProcess, broker_db: int = 1, root: Path = ROOT, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WARMING_", "CELERY_"))}
    env.update(
        WARMING_REDIS_URL=server.url(0),
        CELERY_BROKER_URL=server.url(broker_db),
        CELERY_RESULT_BACKEND=server.url(2),
        WARMING_SOURCE=SOURCE,
        # The checkout whose warming_tasks the worker imports (another one in an A/B run).
        PYTHONPATH=os.pathsep.join(filter(None, [str(root), env.get("PYTHONPATH")])),
    )
    env.update(extra)
    return env


@contextmanager
def worker(
    server: RedisProcess,
    workdir: Path,
    concurrency: int = 2,
    broker_db: int = 1,
    root: Path = ROOT,
    **env: str,
) -> Iterator[Celery]:
    """A real ``celery -A warming_tasks worker -c N`` and a client app to call it."""
    log = (workdir / f"worker-{broker_db}.log").open("wb")
    proc = subprocess.Popen(
        worker_command(concurrency, f"bench{time.time_ns()}@%h", loglevel="warning"),
        env=bench_env(server, broker_db, root, **env),
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    app = Celery("bench", set_as_current=False)
    app.conf.update(
        DEFAULTS,
        # CELERY_* in ``env`` (a broker of its own) reach the client too.
        broker_url=env.get("CELERY_BROKER_URL", server.url(broker_db)),
        result_backend=env.get("CELERY_RESULT_BACKEND", server.url(2)),
    )
    try:
        deadline = time.monotonic() + 60
        while not app.control.ping(timeout=0.5):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the benchmark worker did not start: see {workdir}/worker.log")
        yield app
    finally:
        app.close()
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
