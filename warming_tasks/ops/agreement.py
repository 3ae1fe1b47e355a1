"""Where and how a process writes keys, said so that two processes can compare:
the cache (URL with the password masked, database), the format, the key prefix,
and the Redis key of one probe key (the format's naming: ``KEY_PREFIX``, ``VERSION``).

Workers answer the remote control command ``warming_cache``; a run command asks
the workers of its queue before it enqueues and refuses to go on where theirs
differ from its own."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..settings import Settings, redact_url

PROBE_KEY = "warming:probe"
CONTROL_COMMAND = "warming_cache"
_LOOPBACK = {"localhost": "127.0.0.1", "::1": "127.0.0.1"}


def describe(settings: Settings, redis_key: str | bytes) -> dict[str, Any]:
    """This process's writing, as a JSON-able dict (``redis_key``: the probe key's)."""
    if isinstance(redis_key, bytes):
        redis_key = redis_key.decode(errors="replace")
    return {
        "cache": redact_url(settings.redis_url),
        "where": where(settings.redis_url),
        "format": settings.format,
        "prefix": settings.key_prefix,
        "probe": redis_key,
    }


def where(url: str) -> list[Any]:
    """The server and database a URL names, the same however it is written."""
    parts = urlsplit(url)
    host = (parts.hostname or parts.path or "localhost").lower()
    host = _LOOPBACK.get(host, host)
    try:
        port = parts.port or 6379
    except ValueError:
        port = 0
    db = (
        parts.path.strip("/")
        if parts.scheme != "unix"
        else parse_qs(parts.query).get("db", ["0"])[0]
    )
    return [
        parts.scheme.replace("rediss", "redis"),
        host,
        port,
        int(db or 0) if str(db).isdigit() else db,
    ]


def said(mine: dict[str, Any]) -> str:
    prefix = f", key prefix {mine['prefix']!r}" if mine["prefix"] else ""
    return f"{mine['cache']} (format {mine['format']}{prefix}; {PROBE_KEY} at {mine['probe']})"


def disagreement(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    keys = ("where", "format", "prefix", "probe")
    return any(mine.get(k) != theirs.get(k) for k in keys)
