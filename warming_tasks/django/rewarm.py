"""``rewarm_on_save``: a model's cached key loaded again after each save, and
deleted after a delete, once the transaction commits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from ..runtime import get_settings

log = logging.getLogger("warming_tasks")


class _Fields(dict[str, Any]):
    """An instance's attributes, for ``str.format_map`` (``{pk}``, ``{slug}``)."""

    def __init__(self, instance: Any) -> None:
        super().__init__()
        self.instance = instance

    def __missing__(self, name: str) -> Any:
        return getattr(self.instance, name)


def cache_key(template: str, instance: Any) -> str:
    """``template`` with the instance's attributes: ``"product:{pk}"`` -> ``"product:42"``."""
    return template.format_map(_Fields(instance))


def _quietly(what: str, call: Callable[..., Any], *args: Any) -> Callable[[], None]:
    """``call(*args)``, logged instead of raised: the save it follows has committed,
    and a cache that is briefly out of reach must not fail the request."""

    def run() -> None:
        try:
            call(*args)
        except Exception as exc:
            log.warning("warming-tasks: could not %s after commit: %s", what, exc)

    return run


def _delete(name: str) -> None:
    caches[get_settings().django_cache].delete(name)


def rewarm_on_save(model: type, key: str = "product:{pk}", source: str | None = None) -> None:
    """After each save of ``model``, once its transaction commits, enqueue a warm of
    its key (``key``, formatted with the instance's attributes) from ``source``;
    after a delete, delete the key through the Django cache that the workers write
    (``WARMING_DJANGO_CACHE``). A rolled-back save enqueues nothing. A warm that
    cannot be enqueued is logged, never raised into the request that saved."""
    from ..on_demand import warm  # noqa: PLC0415 - Celery only once a model asks for it

    label = f"{getattr(model, '_meta', model)}:{key}"

    def saved(sender: Any, instance: Any, using: str | None = None, **_: Any) -> None:
        name = cache_key(key, instance)
        transaction.on_commit(_quietly(f"warm {name}", warm, [name], source), using=using)

    def deleted(sender: Any, instance: Any, using: str | None = None, **_: Any) -> None:
        name = cache_key(key, instance)
        transaction.on_commit(_quietly(f"delete {name}", _delete, name), using=using)

    post_save.connect(saved, sender=model, weak=False, dispatch_uid=f"warming:save:{label}")
    post_delete.connect(deleted, sender=model, weak=False, dispatch_uid=f"warming:delete:{label}")
