"""The beat schedule: refresh every ``WARMING_REFRESH_INTERVAL`` seconds and, when
``WARMING_PREDICTIVE_INTERVAL`` > 0, a predictive load at that interval."""

from __future__ import annotations

from typing import Any

from .settings import Settings, get_settings

REFRESH_ENTRY = "warming-tasks: refresh"
PREDICTIVE_ENTRY = "warming-tasks: predictive_load"


def beat_entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """Beat schedule entries for ``settings``; each run expires before the next is due."""
    entries = {
        REFRESH_ENTRY: {
            "task": "warming_tasks.refresh",
            "schedule": settings.refresh_interval,
            "options": {"expires": settings.refresh_interval},
        }
    }
    if settings.predictive_interval > 0:
        entries[PREDICTIVE_ENTRY] = {
            "task": "warming_tasks.predictive_load",
            "schedule": settings.predictive_interval,
            "options": {"expires": settings.predictive_interval},
        }
    return entries


def add_beat_entries(app: Any, settings: Settings | None = None) -> None:
    """Add warming-tasks' entries to ``app.conf.beat_schedule``, keeping the app's own."""
    schedule = dict(app.conf.beat_schedule or {})
    schedule.update(beat_entries(settings or get_settings()))
    app.conf.beat_schedule = schedule
