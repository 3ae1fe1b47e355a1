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


def describe(settings: Settings, redis_key: str | bytes, server: str | None) -> dict[str, Any]:
    """This process's writing, as a JSON-able dict (``redis_key``: the probe key's;
    ``server``: the cache server's ``run_id``, None where it did not answer)."""
    if isinstance(redis_key, bytes):
        redis_key = redis_key.decode(errors="replace")
    return {
        "cache": redact_url(settings.redis_url),
        "server": server,
        "db": database(settings.redis_url),
        "where": where(settings.redis_url),
        "format": settings.format,
        "prefix": settings.key_prefix,
        "probe": redis_key,
    }


def server_id(client: Any) -> str | None:
    """The cache server's ``run_id``: the same server whatever name or address each
    process reaches it by (on a cluster, the first node's)."""
    try:
        info = client.info("server")
    except Exception:
        return None
    if isinstance(info, dict) and "run_id" not in info:  # a cluster: one dict per node
        info = next(iter(info.values()), {})
    run_id = info.get("run_id") if isinstance(info, dict) else None
    return str(run_id) if run_id else None


def database(url: str) -> int:
    """The database a URL names: its path, or a ``db`` query parameter; 0 if neither."""
    parts = urlsplit(url)
    named = parse_qs(parts.query).get("db", [""])[0]
    if parts.scheme != "unix":
        named = parts.path.strip("/") or named
    return int(named) if named.isdigit() else 0


def where(url: str) -> list[Any]:
    """The server and database a URL names, as text: compared only where a server
    did not say who it is."""
    parts = urlsplit(url)
    host = (parts.hostname or parts.path or "localhost").lower()
    host = _LOOPBACK.get(host, host)
    try:
        port = parts.port or 6379
    except ValueError:
        port = 0
    return [host, port, database(url)]


def said(mine: dict[str, Any]) -> str:
    prefix = f", key prefix {mine['prefix']!r}" if mine["prefix"] else ""
    return f"{mine['cache']} (format {mine['format']}{prefix}; {PROBE_KEY} at {mine['probe']})"


def disagreement(mine: dict[str, Any], theirs: dict[str, Any]) -> bool:
    """Whether two processes write different keys or to different places."""
    if any(mine.get(k) != theirs.get(k) for k in ("format", "prefix", "probe")):
        return True
    if mine.get("server") and theirs.get("server"):
        return bool(mine["server"] != theirs["server"] or mine.get("db") != theirs.get("db"))
    return bool(mine.get("where") != theirs.get("where"))
