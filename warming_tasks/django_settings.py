"""What the settings read from a Django project: its ``WARMING`` dict and the Redis
URL of one of its caches. Django's settings module is imported, not set up."""

from __future__ import annotations

import os
from typing import Any

from .errors import SettingsError


def _django_settings(module: str) -> Any:
    try:
        from django.conf import settings  # noqa: PLC0415 - the application's dependency
    except ImportError:
        raise SettingsError(
            f"DJANGO_SETTINGS_MODULE={module} is invalid: Django is not installed here"
        ) from None
    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports the settings module
    except Exception as exc:
        raise SettingsError(
            f"DJANGO_SETTINGS_MODULE={module} is invalid: {type(exc).__name__}: "
            f"{' '.join(str(exc).split())}"
        ) from None
    return settings


def warming_dict(module: str) -> dict[str, Any]:
    """The project's ``WARMING`` setting (keys: setting names without ``WARMING_``)."""
    found = getattr(_django_settings(module), "WARMING", {})
    if not isinstance(found, dict):
        raise SettingsError(
            f"WARMING in {module} is invalid: expected a dict, got {type(found).__name__}"
        )
    return found


def cache_location(module: str, alias: str) -> str | None:
    """The Redis URL of the cache ``alias``: the first of its ``LOCATION`` (Django's
    RedisCache writes to the first of several); None when it has none."""
    caches = getattr(_django_settings(module), "CACHES", {})
    return first_location(caches.get(alias, {}).get("LOCATION"))


def first_location(location: Any) -> str | None:
    """The Redis a cache writes to first: Django's and django-redis' ``LOCATION``
    (a string, comma- or semicolon-separated, or a list)."""
    if isinstance(location, str):
        location = location.replace(";", ",").split(",")
    if isinstance(location, list | tuple) and location:
        return str(location[0]).strip() or None
    return None


def set_up() -> None:
    """Set Django up (once per process) where ``DJANGO_SETTINGS_MODULE`` names a
    project: before a source is imported, so that it may import its models at the
    top of its module, as every Django project writes it."""
    module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if not module:
        return
    try:
        import django  # noqa: PLC0415
        from django.apps import apps  # noqa: PLC0415
    except ImportError:
        return  # not a Django process after all: the source says what it needs
    if apps.ready:
        return
    _django_settings(module)
    try:
        django.setup()
    except Exception as exc:
        raise SettingsError(
            f"DJANGO_SETTINGS_MODULE={module} is invalid: django.setup() failed: "
            f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        ) from None
