"""From a notification's Redis key to the application's key, or to nothing."""

from __future__ import annotations

from collections.abc import Callable

from ..constants import TAG
from ..errors import SettingsError
from ..formats import CacheFormat, app_key_of


class KeyMap:
    """The application's key for a Redis key, through the format's ``app_key``;
    None for a key that is not the application's: the suite's own (``{warming}``
    under ``WARMING_KEY_PREFIX``), another prefix or version, bytes that are not
    UTF-8, the empty key."""

    def __init__(self, app_key: Callable[[str], str | None], own_prefix: str) -> None:
        self._app_key = app_key
        self._own = f"{own_prefix}{TAG}".encode()

    def __call__(self, redis_key: bytes) -> str | None:
        if redis_key.startswith(self._own):
            return None
        try:
            name = redis_key.decode()
        except UnicodeDecodeError:
            return None  # the tracker and the frequency set hold text keys
        return self._app_key(name) or None


# An application key the inverse must give back from its Redis key, checked at start.
PROBE_KEY = "warming:probe"


def key_map_for(fmt: CacheFormat, name: str, own_prefix: str) -> KeyMap:
    """The key map of the format ``name`` (``WARMING_FORMAT``); SettingsError, one line
    naming the format and what to add, where it has no inverse or its inverse does
    not give back a key from the Redis key it names."""
    app_key = app_key_of(fmt, name)
    stored = fmt.redis_key(PROBE_KEY)
    redis_key = stored.decode("utf-8", "replace") if isinstance(stored, bytes) else stored
    try:
        back = app_key(redis_key)
    except SettingsError:
        raise
    except Exception as exc:
        back = f"{type(exc).__name__}: {exc}"
    if back != PROBE_KEY:
        raise SettingsError(
            f"WARMING_FORMAT={name} cannot map a Redis key back to the application's key: "
            f"its redis_key() stores {PROBE_KEY} at {redis_key}, which its app_key() maps "
            f"to {back!r}; make app_key() the inverse of redis_key()"
        )
    return KeyMap(app_key, own_prefix)
