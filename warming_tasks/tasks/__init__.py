"""The Celery tasks: thin shells over the warmer that chunk, fan out and summarise.

They are shared tasks, so any app that includes this module (``include=
["warming_tasks.tasks"]``) registers them under the same names:
``entry`` holds what callers enqueue, ``warm`` the warming of keys on demand,
``copying`` a copy from another Redis (its entry and batch tasks),
``batch`` what a run fans out, ``fanout``
the streaming chord that joins them, ``stalled`` beat's closing of runs that stopped
reporting, ``worker`` what each worker process builds and checks at start.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task

from ..retries import AUTORETRY
from . import worker as worker
from .batch import predictive_batch, preload_batch, refresh_batch
from .copying import copy, copy_batch
from .entry import predictive_load, preload, refresh
from .fanout import FINISH_TASK, finish
from .stalled import close_stalled_runs
from .warm import warm_keys

__all__ = [
    "close_stalled_runs",
    "copy",
    "copy_batch",
    "finish_run",
    "predictive_batch",
    "predictive_load",
    "preload",
    "preload_batch",
    "refresh",
    "refresh_batch",
    "warm_keys",
]


@shared_task(
    name=FINISH_TASK,
    acks_late=True,
    **AUTORETRY,
)
def finish_run(run_id: str) -> dict[str, Any]:
    """The body of a run: write its summary and history, release its lock, return it."""
    return finish(run_id)
