"""``warm(keys)``: what application code calls after it changed data, so the keys
are loaded again now instead of at the next refresh or miss."""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from celery import Celery
from celery.result import AsyncResult

from .retries import TRANSIENT
from .routing import warming_queue
from .runtime import get_own_store

log = logging.getLogger("warming_tasks")

WARM_TASK = "warming_tasks.warm_keys"


@lru_cache(maxsize=1)
def _sender() -> Celery:
    # The suite's configuration (celeryconfig, CELERY_* variables) without becoming
    # the application's current app.
    from .celery_app import make_app  # noqa: PLC0415 - Celery's app only when a warm is sent

    return make_app(set_as_current=False)


def warm(
    keys: Iterable[str] | str, source: str | None = None, app: Celery | None = None
) -> AsyncResult:
    """Enqueue ``warming_tasks.warm_keys`` for ``keys`` (of ``source``; None: each
    key from the first source whose ``keys`` claims it) and return its result.

    The same key asked for again while an earlier request waits in the queue is
    loaded once, by the latest request (the others count it ``coalesced``).
    ``app``: the Celery app to send with (default: one configured like the
    workers' ``celery -A warming_tasks``)."""
    wanted: list[object] = (
        [keys] if isinstance(keys, str) else list(keys) if isinstance(keys, Iterable) else []
    )
    bad = [key for key in wanted if not isinstance(key, str) or not key]
    if not wanted or bad:
        raise ValueError(f"keys={keys!r} is invalid: must be one or more non-empty strings")
    names = [str(key) for key in wanted]
    request: str | None = uuid.uuid4().hex
    try:
        get_own_store().note_pending(names, str(request))
    except TRANSIENT as exc:
        # The warm still goes: it loads its keys, only without coalescing.
        log.warning("warming-tasks: warm requests for %d keys not marked: %s", len(names), exc)
        request = None
    options: dict[str, Any] = {}
    if queue := warming_queue():
        options["queue"] = queue
    kwargs = {"keys": names, "source": source, "request": request}
    try:
        return (app or _sender()).send_task(WARM_TASK, kwargs=kwargs, **options)
    except BaseException:
        if request is not None:
            # This request will not run: its marks must not make earlier requests
            # that wait for these keys count them as coalesced into it.
            with contextlib.suppress(*TRANSIENT):
                get_own_store().drop_pending(names, request)
        raise
