"""The beat schedule: each source's refresh at its own interval (its declared
``refresh_interval``, else ``WARMING_REFRESH_INTERVAL``); when
``WARMING_PREDICTIVE_INTERVAL`` > 0, a predictive load at that interval; and the
check that closes stalled runs, a few times per ``WARMING_RUN_STALL_S``."""

from __future__ import annotations

from collections.abc import Mapping
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


def beat_entries(
    settings: Settings, intervals: Mapping[str, float] | None = None
) -> dict[str, dict[str, Any]]:
    """Beat schedule entries for ``settings``; each run expires before the next is due.

    ``intervals``: each named source's refresh interval (``WARMING_SOURCES``), one
    entry each; None: one refresh of every source (``WARMING_SOURCE``)."""
    entries: dict[str, dict[str, Any]] = {}
    if intervals is None:
        entries[REFRESH_ENTRY] = {
            "task": "warming_tasks.refresh",
            "schedule": settings.refresh_interval,
            "options": _options(settings, settings.refresh_interval),
        }
    for name, interval_s in (intervals or {}).items():
        entries[f"{REFRESH_ENTRY} {name}"] = {
            "task": "warming_tasks.refresh",
            "schedule": interval_s,
            "kwargs": {"source": name},
            "options": _options(settings, interval_s),
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


def _intervals(settings: Settings) -> tuple[Settings, dict[str, float] | None]:
    """``settings`` and each named source's refresh interval, as the sources declare
    them. The one source of ``WARMING_SOURCE`` keeps the one entry, at its own
    interval; a source that cannot be loaded is the worker's to report (its refresh
    then says why), so beat schedules it at the global interval."""
    from .runtime import get_sources  # noqa: PLC0415 - beat loads the sources only here

    try:
        sources = get_sources()
    except WarmingError:
        sources = {}
    if not settings.sources:
        declared = next(iter(sources.values()), None)
        return (declared.settings if declared else settings), None
    names = settings.source_specs()
    return settings, {
        name: (sources[name].settings if name in sources else settings).refresh_interval
        for name in names
    }


def add_beat_entries(app: Any, settings: Settings | None = None) -> None:
    """Add warming-tasks' entries to ``app.conf.beat_schedule``, keeping the app's own.

    Safe to call at import time: the entries are added once the app is configured,
    and bad settings never raise here (worker and beat report them at start-up,
    in one line).
    """

    def install(**_: Any) -> None:
        try:
            entries = beat_entries(*_intervals(settings or get_settings()))
        except WarmingError:
            return
        schedule = dict(app.conf.beat_schedule or {})
        schedule.update(entries)
        app.conf.beat_schedule = schedule

    if app.configured:
        install()
    else:
        app.on_after_configure.connect(install, weak=False)
