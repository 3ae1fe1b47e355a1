"""Formats of a user's own that the listener tests name in WARMING_FORMAT."""

from __future__ import annotations

from typing import Any


class NoInverse:
    """Keys and values as the application writes them, with no way back from a key."""

    def redis_key(self, key: str | bytes) -> str | bytes:
        return f"mine:{key.decode() if isinstance(key, bytes) else key}"

    def encode(self, value: Any) -> str | bytes:
        return str(value)


class Upper(NoInverse):
    """Keys upper-cased under a prefix of its own, and their inverse."""

    def redis_key(self, key: str | bytes) -> str:
        return f"UP:{(key.decode() if isinstance(key, bytes) else key).upper()}"

    def app_key(self, redis_key: str) -> str | None:
        return redis_key[3:].lower() if redis_key.startswith("UP:") else None


class WrongInverse(NoInverse):
    """An ``app_key`` that does not give back the key ``redis_key`` named."""

    def app_key(self, redis_key: str) -> str | None:
        return redis_key


def prefixed_key(key: str, key_prefix: str, version: int) -> str:
    """A KEY_FUNCTION of the application's own (named as Django's default names keys)."""
    return f"{key_prefix}:{version}:{key}"
