"""How the suite's Celery app is configured, in three layers, the last one winning:
the built-in defaults below, then a ``celeryconfig`` module on ``sys.path`` (or the
module named by ``CELERY_CONFIG_MODULE``), then Celery's own environment variables
``CELERY_BROKER_URL`` and ``CELERY_RESULT_BACKEND``. Importing this module builds no
app: ``warming_tasks.app`` builds the one ``celery -A warming_tasks`` finds, and
``warm`` one that sends without becoming the application's current app."""

from __future__ import annotations

import importlib
import os
from typing import Any

from celery import Celery

from .errors import SettingsError

DEFAULTS: dict[str, Any] = {
    "broker_url": "redis://localhost:6379/1",
    "result_backend": "redis://localhost:6379/2",
    "task_serializer": "json",
    "result_serializer": "json",
    "accept_content": ["json"],
    "result_accept_content": ["json"],
    "result_expires": 86_400,
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    # A batch holds thousands of keys: a prefetched one would wait behind a slow one.
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
    "task_routes": ("warming_tasks.routing.route",),
    "timezone": "UTC",
}


def config_module() -> dict[str, Any]:
    name = os.environ.get("CELERY_CONFIG_MODULE") or "celeryconfig"
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name and "CELERY_CONFIG_MODULE" not in os.environ:
            return {}
        where = f"CELERY_CONFIG_MODULE={name}" if "CELERY_CONFIG_MODULE" in os.environ else name
        raise SettingsError(
            f"{where} is invalid: module {exc.name!r} cannot be imported (run from the "
            "directory that holds it, or put it on PYTHONPATH)"
        ) from None
    return {k: v for k, v in vars(module).items() if k.islower() and not k.startswith("_")}


def make_app(set_as_current: bool = True) -> Celery:
    app = Celery("warming_tasks", include=["warming_tasks.tasks"], set_as_current=set_as_current)
    app.config_from_object(DEFAULTS | config_module())
    return app
