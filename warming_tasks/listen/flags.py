"""``notify-keyspace-events`` and what the listener needs of it: ``E`` (publish on
``__keyevent@<db>__:<event>`` channels) and ``m`` (key misses). ``A``, "all", does
not include ``m``: Redis leaves key misses out of it, as they are costly."""

from __future__ import annotations

KEY_MISS_FLAGS = "Em"


def missing(flags: str) -> str:
    """The flags of ``KEY_MISS_FLAGS`` that ``flags`` lacks ('' when none)."""
    return "".join(flag for flag in KEY_MISS_FLAGS if flag not in flags)


def with_key_misses(flags: str) -> str:
    """``flags`` with key misses published: the flags set keep what was set before."""
    return flags + missing(flags)
