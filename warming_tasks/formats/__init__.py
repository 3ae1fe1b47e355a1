"""How the application's cache framework names keys and encodes values.

A format maps the application's key (``product:42``) to the Redis key its
framework reads, and the source's object to the bytes that framework decodes.
``WARMING_FORMAT`` picks one: ``raw`` (the default), ``django``, ``cachelib``, or
``module:attribute`` naming a format object of the user's own (any object with
the two methods of ``CacheFormat``; a class or a zero-argument factory is
called once per worker process).

A format may also say which application key a Redis key is (``app_key``, the
inverse of ``redis_key``): ``warming-tasks listen`` needs it to count Redis'
key-miss notifications as the application's reads. The built-in formats have it;
a format of the user's own needs it only for ``listen``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from ..errors import EncodeError, SettingsError
from ..settings import Settings
from ..source import load_object

EncodedValue = str | bytes | int


@runtime_checkable
class CacheFormat(Protocol):
    """What the suite needs from a format: a key and an encoding."""

    def redis_key(self, key: str | bytes) -> str | bytes:
        """The Redis key under which the framework looks ``key`` up."""
        ...

    def encode(self, value: Any) -> EncodedValue:
        """The bytes (or an int, stored as digits) the framework reads back as
        ``value``; raises when the framework cannot store it."""
        ...


class InvertibleFormat(CacheFormat, Protocol):
    """A format that can also map a Redis key back to the application's key (optional:
    only ``warming-tasks listen`` needs it)."""

    def app_key(self, redis_key: str) -> str | None:
        """The application's key that the framework stores at ``redis_key``, or None
        where ``redis_key`` is not one of its keys (another prefix, another version).
        ``app_key(redis_key(key)) == key`` for every key. It may raise SettingsError,
        saying why, where this instance cannot invert its key function at all."""
        ...


def app_key_of(fmt: CacheFormat, name: str) -> Callable[[str], str | None]:
    """``fmt``'s ``app_key``; SettingsError naming the format and what to add where it
    has none."""
    app_key = getattr(fmt, "app_key", None)
    if not callable(app_key):
        raise SettingsError(
            f"WARMING_FORMAT={name} cannot map a Redis key back to the application's key: "
            f"add an app_key(redis_key) method to {type(fmt).__name__}, the inverse of its "
            "redis_key() (None for a key that is not the application's)"
        )
    return app_key  # type: ignore[no-any-return]  # a method of the documented shape


def load_format(settings: Settings) -> CacheFormat:
    """The format ``WARMING_FORMAT`` names; SettingsError naming what is wrong."""
    name = settings.format
    if name == "raw":
        from .raw import RawFormat  # noqa: PLC0415 - each format is imported only when chosen

        return RawFormat(settings.key_prefix)
    if name == "cachelib":
        from .cachelib_format import CachelibFormat  # noqa: PLC0415 - imported only when chosen

        return CachelibFormat(settings.key_prefix)
    if name == "django":
        from .django_format import DjangoFormat  # noqa: PLC0415 - Django only when chosen

        return DjangoFormat(settings.django_cache)
    target = load_object(name, "WARMING_FORMAT", _looks_like_format, SettingsError)
    if not _looks_like_format(target):
        raise SettingsError(
            f"WARMING_FORMAT={name} is invalid: {type(target).__name__} has no "
            "redis_key() and encode() methods"
        )
    return target  # type: ignore[no-any-return]  # checked by _looks_like_format


def _looks_like_format(obj: Any) -> bool:
    return not inspect.isclass(obj) and isinstance(obj, CacheFormat)


def encode_value(fmt: CacheFormat, value: Any, max_value_bytes: int) -> EncodedValue:
    """``value`` as ``fmt`` writes it; EncodeError (one line) when it cannot be, or
    when it is larger than ``WARMING_MAX_VALUE_BYTES``."""
    try:
        encoded = fmt.encode(value)
    except EncodeError:
        raise
    except Exception as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        raise EncodeError(f"cannot be encoded for the cache: {reason}"[:200]) from None
    if isinstance(encoded, bytes):
        size = len(encoded)
    elif isinstance(encoded, str):
        # UTF-8 takes at most 4 bytes a character: short strings need no encoding.
        size = len(encoded) if len(encoded) * 4 <= max_value_bytes else len(encoded.encode())
    elif isinstance(encoded, int) and not isinstance(encoded, bool):
        return encoded  # stored as digits, as the framework wrote it
    else:
        raise EncodeError(f"the format gave {type(encoded).__name__}, not bytes")
    if size > max_value_bytes:
        raise EncodeError(f"value is {size} bytes, over WARMING_MAX_VALUE_BYTES={max_value_bytes}")
    return encoded
