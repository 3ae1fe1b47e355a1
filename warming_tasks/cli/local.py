"""``--local``: the run's tasks in this process, for a one-off or a site without
workers. The same tasks as on a worker, run by a worker inside this process on an
in-memory broker and result backend; the cache Redis is the one the settings name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from celery import Celery
from celery.contrib.testing.worker import start_worker


@contextmanager
def local_worker(app: Celery, queue: str) -> Iterator[None]:
    """A worker in a thread of this process, consuming ``queue``, until the block ends."""
    # Celery reads CELERY_BROKER_URL and CELERY_RESULT_BACKEND over its conf: both.
    memory = {"broker_url": "memory://localhost/", "result_backend": "cache+memory://localhost/"}
    variables = {f"CELERY_{name.upper()}": url for name, url in memory.items()}
    before = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    app.conf.update(memory)
    # One task at a time, in its thread: a source need not be thread-safe.
    with start_worker(
        app,
        concurrency=1,
        pool="solo",
        perform_ping_check=False,
        loglevel="ERROR",  # its own logs; the summary and failures are ours to say
        queues=[queue],
        shutdown_timeout=30.0,
    ):
        try:
            yield
        finally:
            for name, value in before.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
