"""Runs always report: beat's periodic check closes a run that made no progress
for ``WARMING_RUN_STALL_S``, counting the batches that never reported as ``lost``
(a message the broker lost, a worker that died without redelivery), and sends its
body, so ``AsyncResult.get()`` and the CLI return."""

from __future__ import annotations

import logging
import time

from celery import Task, shared_task

from ..records import Count
from ..retries import AUTORETRY
from ..runtime import get_store
from ..settings import get_settings
from .fanout import send_body

log = logging.getLogger(__name__)

CLOSE_STALLED_TASK = "warming_tasks.close_stalled_runs"


@shared_task(
    name=CLOSE_STALLED_TASK,
    bind=True,
    **AUTORETRY,
    ignore_result=True,
)
def close_stalled_runs(self: Task) -> list[str]:
    """Close every run with no progress for WARMING_RUN_STALL_S; the ids closed."""
    stall_s = get_settings().run_stall_s
    store = get_store()
    since = time.time() - stall_s
    closed = []
    for run_id in store.stalled_runs(since):
        if store.close_stalled(run_id, since):
            lost = store.run_record(run_id).counts.get(Count.LOST, 0)
            log.warning(
                "run %s made no progress for %.0f s: closed, %d batches never reported (lost)",
                run_id,
                stall_s,
                lost,
            )
            send_body(self, store, run_id)
            closed.append(run_id)
    return closed
