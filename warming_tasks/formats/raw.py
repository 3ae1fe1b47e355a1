"""``raw``: the key as the source names it after ``WARMING_KEY_PREFIX``, the value
as the source's ``str``/``bytes`` — what redis-py's ``GET`` reads."""

from __future__ import annotations

from typing import Any

from ..errors import EncodeError


class RawFormat:
    """Keys prefixed, values written as they come."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self._bytes_prefix = prefix.encode()

    def redis_key(self, key: str | bytes) -> str | bytes:
        # Redis keys are binary: a bytes key from the source is written as those bytes.
        if isinstance(key, bytes):
            return self._bytes_prefix + key
        return f"{self.prefix}{key}"

    def app_key(self, redis_key: str) -> str | None:
        """The application's key: ``redis_key`` without the prefix (None without it)."""
        if not redis_key.startswith(self.prefix):
            return None
        return redis_key[len(self.prefix) :]

    def encode(self, value: Any) -> str | bytes:
        if isinstance(value, str | bytes):
            return value
        raise EncodeError(
            f"value must be str or bytes, got {type(value).__name__} (this worker has "
            "WARMING_FORMAT=raw: an object needs the format of its framework)"
        )
