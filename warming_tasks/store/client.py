"""Clients for the cache Redis: single node or Redis Cluster, the tracker's failing fast."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from .. import constants as c
from ..errors import SettingsError
from ..settings import Settings, redact_url

Client = redis.Redis | RedisCluster


def connect(settings: Settings, *, for_tracker: bool = False) -> Client:
    """A client for the cache Redis (or Redis Cluster); the tracker's fails fast."""
    timeouts = (
        (c.TRACKER_CONNECT_TIMEOUT_S, c.TRACKER_SOCKET_TIMEOUT_S)
        if for_tracker
        else (c.CACHE_SOCKET_TIMEOUT_S, c.CACHE_SOCKET_TIMEOUT_S)
    )
    options: dict[str, Any] = {"socket_connect_timeout": timeouts[0], "socket_timeout": timeouts[1]}
    url = settings.redis_url
    try:
        if settings.redis_cluster:
            return RedisCluster.from_url(cluster_url(url), **options)
        options["health_check_interval"] = 30
        if for_tracker:
            options["retry"] = Retry(NoBackoff(), 0)
        return redis.Redis.from_url(url, **options)
    except (ValueError, RedisClusterException) as exc:
        raise SettingsError(f"WARMING_REDIS_URL={redact_url(url)} is invalid: {exc}") from None


def cluster_url(url: str) -> str:
    """A Redis Cluster has only database 0: accept /0 and say so for any other."""
    parts = urlsplit(url)
    if parts.path.strip("/") not in ("", "0"):
        raise SettingsError(
            f"WARMING_REDIS_URL={redact_url(url)} is invalid: a Redis Cluster has only db 0"
        )
    return urlunsplit((parts.scheme, parts.netloc, "", parts.query, parts.fragment))
