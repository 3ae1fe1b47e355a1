"""The beat schedule: refresh every ``WARMING_REFRESH_INTERVAL`` seconds; when
``WARMING_PREDICTIVE_INTERVAL`` > 0, a predictive load at that interval; and the
check that closes stalled runs, a few times per ``WARMING_RUN_STALL_S``."""

from __future__ import annotations

from typing import Any

from . import constants as c
from .errors import WarmingError
from .settings import Settings, get_settings

REFRESH_ENTRY = "warming-tasks: refresh"
PREDICTIVE_ENTRY = "warming-tasks: predictive_load"
STALLED_ENTRY = "warming-tasks: close stalled runs"


def _options(settings: Settings, expires_s: float) -> dict[str, Any]:
    options: dict[str, Any] = {"expires": expires_s}
    if settings.queue:
        options["queue"] = settings.queue
    return options


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat schedule entries for ``settings``; each run expires before the next is due."""
    entries = {
        REFRESH_ENTRY: {
            "task": "warming_tasks.refresh",
            "schedule": settings.refresh_interval,
            "options": _options(settings, settings.refresh_interval),
        }
    }
    check_s = min(c.STALL_CHECK_MAX_S, settings.run_stall_s / 4)
    entries[STALLED_ENTRY] = {
        "task": "warming_tasks.close_stalled_runs",
        "schedule": check_s,
        "options": _options(settings, check_s),
    }
    if settings.predictive_interval > 0:
        entries[PREDICTIVE_ENTRY] = {
            "task": "warming_tasks.predictive_load",
            "schedule": settings.predictive_interval,
            "options": _options(settings, settings.predictive_interval),
        }
    return entries


def add_beat_entries(app: Any, settings: Settings | None = None) -> None:
    """Add warming-tasks' entries to ``app.conf.beat_schedule``, keeping the app's own.

    Safe to call at import time: the entries are added once the app is configured,
    and bad settings never raise here (worker and beat report them at start-up,
    in one line).
    """

    def install(**_: Any) -> None:
        try:
            entries = beat_entries(settings or get_settings())
        except WarmingError:
            return
        schedule = dict(app.conf.beat_schedule or {})
        schedule.update(entries)
        app.conf.beat_schedule = schedule

    if app.configured:
        install()
    else:
        app.on_after_configure.connect(install, weak=False)
