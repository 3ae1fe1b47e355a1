"""What is worth a retry, and how long to wait before one: the one classification
that the store, the tasks and the CLI share."""

from __future__ import annotations

import random
from typing import Any, Final

import redis
from celery.utils.time import get_exponential_backoff_interval
from kombu.exceptions import OperationalError

from .errors import SourceUnavailable

# The cache, the broker or the source's database was unreachable, not wrong:
# another try may succeed.
TRANSIENT: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
    OperationalError,
    SourceUnavailable,
)
# Subclasses of redis.ConnectionError that no retry will mend: a refused password.
# (They are inside TRANSIENT too: catch REFUSED first.)
REFUSED: tuple[type[Exception], ...] = (redis.AuthenticationError,)

MAX_RETRIES = 8  # so 9 tries in all
BACKOFF_MAX_S = 30
# Celery's own retry for tasks that can simply run again after an outage: every
# task but the batches, which retry by hand (see tasks.batch).
AUTORETRY: Final[dict[str, Any]] = {
    "autoretry_for": TRANSIENT,
    "dont_autoretry_for": REFUSED,
    "retry_backoff": True,
    "retry_backoff_max": BACKOFF_MAX_S,
    "max_retries": MAX_RETRIES,
}


def backoff_s(retries: int) -> float:
    """Seconds before retry number ``retries + 1``: Celery's exponential backoff
    (1, 2, 4 … 30 s), drawn from its upper half so that nine tries always span at
    least a minute of outage (full jitter could spend them all in seconds)."""
    ceiling = get_exponential_backoff_interval(
        factor=1, retries=retries, maximum=BACKOFF_MAX_S, full_jitter=False
    )
    return float(ceiling) * (0.5 + random.random() / 2)


def retry_span_s() -> float:
    """The longest a batch's retries can take, all backoffs at their ceiling."""
    return float(
        sum(
            get_exponential_backoff_interval(
                factor=1, retries=n, maximum=BACKOFF_MAX_S, full_jitter=False
            )
            for n in range(MAX_RETRIES)
        )
    )
