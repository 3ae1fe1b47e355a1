"""``warm`` from application code: what it checks before it sends, and that it leaves
the application's own Celery app alone. Pure: no broker is reached."""

from __future__ import annotations

import pytest
from celery import Celery, current_app

from warming_tasks import warm
from warming_tasks.on_demand import _sender


def test_the_warm_sender_never_becomes_the_applications_current_app() -> None:
    before = current_app._get_current_object()
    users = Celery("users-app", broker="memory://", set_as_current=True)
    try:
        sender = _sender()
        assert sender.main == "warming_tasks"
        assert current_app.main == "users-app"
    finally:
        users.close()
        before.set_current()


@pytest.mark.parametrize("keys", [[], [""], ["ok", 3], None])
def test_warm_refuses_keys_that_are_not_strings_in_one_line(keys: object) -> None:
    with pytest.raises(ValueError, match=r"^keys=.* is invalid: must be one or more non-empty"):
        warm(keys)
