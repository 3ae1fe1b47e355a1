"""What ``warming-tasks settings`` shows: every effective setting and where it came
from, passwords masked — what a newcomer runs when "it warms the wrong Redis"."""

from __future__ import annotations

import os
from typing import Any

from ..settings import Settings, env_name, redact_url

# Celery's own settings that decide where runs go, with the variables that win.
CELERY_SETTINGS = {"broker_url": "CELERY_BROKER_URL", "result_backend": "CELERY_RESULT_BACKEND"}


def _shown(value: Any) -> Any:
    if isinstance(value, str) and "://" in value:
        return redact_url(value)
    return getattr(value, "value", value)  # an enum as its text


def effective(
    settings: Settings, config_module: dict[str, Any], app_conf: Any
) -> list[dict[str, Any]]:
    """Rows ``{name, value, from}``: the WARMING_* settings (``from`` is
    ``environment``, ``django settings`` or ``default``), then Celery's broker and
    results (``environment``, ``celeryconfig`` or ``default``)."""
    rows = []
    for field in Settings.model_fields:
        name = env_name(field)
        if os.environ.get(name):
            origin = "environment"
        elif field in settings.model_fields_set:
            origin = "django settings"  # the WARMING dict, or the cache's LOCATION
        else:
            origin = "default"
        rows.append({"name": name, "value": _shown(getattr(settings, field)), "from": origin})
    for key, variable in CELERY_SETTINGS.items():
        if os.environ.get(variable):
            origin = "environment"
        elif key in config_module:
            origin = "celeryconfig"
        else:
            origin = "default"
        # Attribute access: Celery reads its environment variables there, not in conf[key].
        value = _shown(str(getattr(app_conf, key)))
        rows.append({"name": variable, "value": value, "from": origin})
    return rows
