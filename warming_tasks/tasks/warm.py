"""Warming on demand: ``warm_keys`` loads and writes the keys the application asked
for now (after it changed their data), guarded like a preload. Requests for the
same key that wait in the queue together cost one load: each request marks the
keys it asks for (``store.pending``), and only the latest request for a key loads
it; the others count it ``coalesced``."""

from __future__ import annotations

import time
from typing import Any

from celery import Task, shared_task

from .. import constants as c
from ..maths.batching import chunked
from ..on_demand import WARM_TASK
from ..retries import AUTORETRY
from ..runtime import get_store, get_warmer
from ..sources import route
from ..store.control import PAUSED
from .entry import sources_for

# The counts a warm's summary always has.
WARM_FIELDS = ("loaded", "missing", "failed", "superseded", "coalesced", "unrouted")
_WRITTEN = ("loaded", "missing", "failed", "superseded")


@shared_task(name=WARM_TASK, bind=True, acks_late=True, reject_on_worker_lost=True, **AUTORETRY)
def warm_keys(
    self: Task, keys: list[str], source: str | None = None, request: str | None = None
) -> dict[str, Any]:
    """Load ``keys`` from ``source`` (None: each from the first source that claims
    it) and write them where the cache still holds what it held before the load."""
    started = time.time()
    if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys or []):
        raise ValueError(f"keys={keys!r} is invalid: must be a list of non-empty strings")
    sources = sources_for(source)
    summary: dict[str, Any] = {"kind": "warm", "run_id": self.request.id, "source": source}
    summary |= dict.fromkeys((*WARM_FIELDS, "batches"), 0)
    store = get_store()
    if store.paused():
        return summary | {"skipped": PAUSED, "duration_s": 0.0}
    wanted = list(dict.fromkeys(keys))  # a key named twice in one request loads once
    if request is not None:
        claimed = store.claim_pending(wanted, request)
        wanted = [key for key, mine in zip(wanted, claimed, strict=True) if mine]
    summary["coalesced"] = len(keys) - len(wanted)
    if source is None:
        routed, summary["unrouted"] = route(wanted, sources)
    else:  # the keys asked of this source are its to load, whatever its glob
        routed = {source: wanted}
    errors: list[dict[str, str]] = []
    for name, named_keys in routed.items():
        warmer = get_warmer(name)
        for batch in chunked(named_keys, warmer.settings.batch_size):
            warmer.pace(len(batch))
            result = warmer.preload(batch)
            for field in _WRITTEN:
                summary[field] += result.counts.get(field, 0)
            errors += result.errors
            summary["batches"] += 1
    if errors:
        summary["errors"] = errors[: c.ERROR_SAMPLE_LEN]
    summary["duration_s"] = round(time.time() - started, 3)
    return summary
