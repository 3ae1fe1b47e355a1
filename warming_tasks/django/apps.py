"""``INSTALLED_APPS += ["warming_tasks.django"]``: ``python manage.py warming …``."""

from __future__ import annotations

from django.apps import AppConfig


class WarmingTasksConfig(AppConfig):  # type: ignore[misc] # Django has no types here
    name = "warming_tasks.django"
    label = "warming_tasks"  # "django" would read as Django's own
    verbose_name = "warming-tasks"
