"""The start-up checks that Celery's signals run, for our app and users' apps alike,
and the remote control command that says where this worker writes."""

from __future__ import annotations

from typing import Any

from celery import signals
from celery.worker.control import inspect_command

from ..ops import startup
from ..ops.agreement import PROBE_KEY, describe, server_id
from ..runtime import get_format, get_settings, get_store, reset


# Connected here rather than in the app module, so that a user's own app that
# includes these tasks gets the checks too.
@signals.celeryd_init.connect
def _check_worker(**_: Any) -> None:
    startup.check_worker()


@signals.beat_init.connect
def _check_beat(**_: Any) -> None:
    startup.check_settings()


@signals.worker_ready.connect
def _warn_operator(**_: Any) -> None:
    startup.warn_operator()


@inspect_command()
def warming_cache(state: Any, **_: Any) -> dict[str, Any]:
    """Where and how this worker writes keys: a run command compares with its own."""
    return describe(
        get_settings(), get_format().redis_key(PROBE_KEY), server_id(get_store().client)
    )


@signals.worker_process_init.connect
def _fresh_after_fork(**_: Any) -> None:
    # Each pool child builds its own source, client and warmer: a database
    # connection opened by the parent must not be shared across processes.
    reset()
