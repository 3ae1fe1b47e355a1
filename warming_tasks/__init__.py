"""warming-tasks: Celery tasks that keep a Redis cache warm."""

from __future__ import annotations

from typing import Any

from .beat import add_beat_entries
from .errors import SettingsError, SourceError, WarmingError
from .source import DataSource
from .tracker import flush_access, track_access

__all__ = [
    "DataSource",
    "SettingsError",
    "SourceError",
    "WarmingError",
    "add_beat_entries",
    "flush_access",
    "track_access",
    "warm",
]


def __getattr__(name: str) -> Any:
    # The Celery app is built only when asked for (``celery -A warming_tasks``), so
    # an application importing track_access does not get a second current_app.
    if name == "warm":  # Celery is imported only when a warm is asked for
        from .on_demand import warm  # noqa: PLC0415

        return warm
    if name in ("app", "celery"):
        from .app import app  # noqa: PLC0415 - the app is built only when asked for

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
