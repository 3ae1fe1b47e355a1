"""A task of the user's own that follows a warming run in a chain or a link."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="tests.receive_summary")
def receive_summary(summary: dict[str, Any], note: str = "") -> dict[str, Any]:
    """What a user's next task gets from a warming run: its summary."""
    return {"received": summary, "note": note}
