"""Optional routing: ``WARMING_QUEUE`` sends every warming task to a queue of its own."""

from __future__ import annotations

import contextlib
from typing import Any

from .errors import WarmingError
from .settings import get_settings


def warming_queue() -> str | None:
    """The queue named by WARMING_QUEUE, or None (Celery's default queue)."""
    with contextlib.suppress(WarmingError):  # bad settings are reported at start-up
        return get_settings().queue
    return None


def route(name: str, args: Any, kwargs: Any, options: Any, task: Any = None, **_: Any) -> Any:
    """A Celery router (``task_routes``) for the ``warming_tasks.*`` tasks."""
    queue = warming_queue()
    if queue and name.startswith("warming_tasks."):
        return {"queue": queue}
    return None
