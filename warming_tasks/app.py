"""The Celery app that ``celery -A warming_tasks worker|beat`` finds.

Configuration comes in three layers, the last one winning: the built-in
defaults below, then a ``celeryconfig`` module on ``sys.path`` (or the module
named by ``CELERY_CONFIG_MODULE``), then Celery's own environment variables
``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND``.
"""

from __future__ import annotations

from typing import Any

from celery import signals

from .beat import add_beat_entries
from .celery_app import DEFAULTS, config_module, make_app
from .errors import SettingsError
from .ops.startup import check_settings, refuse

__all__ = ["DEFAULTS", "app", "config_module", "make_app"]

try:
    app = make_app()
except SettingsError as exc:
    # Celery's worker and beat would print the import's traceback.
    refuse(exc)


@signals.import_modules.connect
def _check_settings(**_: Any) -> None:
    # Sent by worker and beat start-up before their banners and log redirection;
    # the tasks module checks again (and the source) for apps of users' own.
    check_settings()


add_beat_entries(app)
