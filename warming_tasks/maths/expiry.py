"""TTL maths: jitter on write and the window in which a key is refreshed."""

import random


def jittered_ttl(ttl_s: int, jitter: float, rng: random.Random | None = None) -> int:
    """A TTL drawn uniformly from ``[ceil(ttl * (1 - jitter)), ttl]`` whole seconds, at least 1.

    Spreading TTLs keeps keys written in one batch from expiring in one instant.
    """
    if jitter <= 0 or ttl_s <= 1:
        return ttl_s
    draw = (rng or random).random()
    return max(1, ttl_s - int(ttl_s * jitter * draw))


KEY_MISSING = -2  # what PTTL says of a key that is not there


def in_refresh_window(pttl_ms: int, threshold_s: int) -> bool:
    """Whether a key whose ``PTTL`` is ``pttl_ms`` should be refreshed now.

    ``PTTL`` is -2 for a missing key and -1 for a key without expiry: neither is
    touched. A key is due when it has a TTL and less than ``threshold_s`` left.
    """
    return 0 < pttl_ms < threshold_s * 1000
