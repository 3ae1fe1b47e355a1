"""What is worth a retry, and how long to wait before one: the one classification
that the store, the tasks and the CLI share."""

from __future__ import annotations

import redis
from celery.utils.time import get_exponential_backoff_interval
from kombu.exceptions import OperationalError

# The cache or the broker was unreachable, not wrong: another try may succeed.
TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    OperationalError,
)
# Subclasses of redis.ConnectionError that no retry will mend: a refused password.
REFUSED: tuple[type[Exception], ...] = (redis.AuthenticationError,)

MAX_RETRIES = 8  # so 9 tries in all
BACKOFF_MAX_S = 30


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says a server was unreachable (worth a retry), not refusing us."""
    return isinstance(exc, TRANSIENT) and not isinstance(exc, REFUSED)


def backoff_s(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: Celery's exponential backoff with
    full jitter, as ``retry_backoff`` gives the tasks that retry automatically."""
    return float(
        get_exponential_backoff_interval(
            factor=1, retries=retries, maximum=BACKOFF_MAX_S, full_jitter=True
        )
    )
