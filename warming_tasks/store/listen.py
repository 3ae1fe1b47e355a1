"""What ``warming-tasks listen`` sends: the key-miss subscription, the server's
notification flags and miss counter, the listener's counters, checkpoint and
heartbeat.

Redis publishes ``__keyevent@<db>__:keymiss`` (with ``notify-keyspace-events``
holding ``E`` and ``m``) for every read of an absent key; pub/sub is fire and
forget, so what the listener does not receive is gone. Its checkpoint keeps
Redis' own ``keyspace_misses`` beside its counts, so a listener that starts
later can say how many misses nobody received meanwhile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .. import constants as c
from ..errors import SettingsError
from ..settings import Settings, redact_url
from .base import StoreBase, text

NOTIFY_CONFIG = "notify-keyspace-events"
_MOST = 10_000  # notifications handed on at a time


@dataclass(frozen=True)
class ServerMisses:
    """Redis' count of lookups that missed (every db, every command), and which run
    of the server counted them (a restart starts again from 0)."""

    run_id: str
    keyspace_misses: int


@dataclass(frozen=True)
class ListenState:
    """The listeners' counters and the last checkpoint, as stored."""

    counted: int = 0  # misses counted into the frequency set
    ignored: int = 0  # notifications of keys that are not the application's
    lost: int = 0  # misses estimated lost: no listener, or notifications off
    checkpoint: ServerMisses | None = None
    beat_at: float | None = None  # when a listener last saved (Unix time, its clock)

    @classmethod
    def parse(cls, raw: Mapping[Any, Any]) -> ListenState:
        fields = {text(k): text(v) for k, v in raw.items()}
        run_id, misses = fields.get("run_id"), fields.get("keyspace_misses")
        beat_at = fields.get("beat_at")
        return cls(
            counted=int(fields.get("counted", 0)),
            ignored=int(fields.get("ignored", 0)),
            lost=int(fields.get("lost", 0)),
            checkpoint=ServerMisses(run_id, int(misses)) if run_id and misses else None,
            beat_at=float(beat_at) if beat_at else None,
        )


def listener_client(settings: Settings) -> redis.Redis:
    """A client of the cache Redis for the listener: no retries of its own (the
    listener reconnects with its own backoff and counts every gap as lost)."""
    if settings.redis_cluster:
        raise SettingsError(
            "WARMING_REDIS_CLUSTER=true: listen does not support Redis Cluster yet (each "
            "primary publishes only its own key misses; a listener must follow every "
            "primary through failovers and resharding, or it counts some nodes' misses "
            "and not others'): run listen against a single Redis"
        )
    try:
        return redis.Redis.from_url(
            settings.redis_url,
            socket_connect_timeout=c.CACHE_SOCKET_TIMEOUT_S,
            socket_timeout=c.CACHE_SOCKET_TIMEOUT_S,
            health_check_interval=30,  # a PING on a quiet subscription finds a dead peer
            retry=Retry(NoBackoff(), 0),
        )
    except ValueError as exc:
        url = redact_url(settings.redis_url)
        raise SettingsError(f"WARMING_REDIS_URL={url} is invalid: {exc}") from None


def database(client: redis.Redis) -> int:
    """The database the client reads (notifications are per database)."""
    return int(client.connection_pool.connection_kwargs.get("db") or 0)


class MissFeed:
    """The subscription to one database's key-miss notifications."""

    def __init__(self, client: redis.Redis) -> None:
        self.channel = f"__keyevent@{database(client)}__:keymiss".encode()
        self._pubsub = client.pubsub()

    def _parse(self, timeout_s: float) -> Any:
        """The next reply on the subscription within ``timeout_s``, or None. Read raw:
        ``get_message`` builds a dict per message, which costs more than the count."""
        return self._pubsub.parse_response(block=False, timeout=timeout_s)  # type: ignore[no-untyped-call]

    def open(self, timeout_s: float) -> None:
        """Subscribe, and return once Redis has confirmed it: a miss after this is seen."""
        self._pubsub.subscribe(self.channel)
        deadline = time.monotonic() + timeout_s
        while (left := deadline - time.monotonic()) > 0:
            reply = self._parse(min(left, 0.1))
            if isinstance(reply, list) and reply[:2] == [b"subscribe", self.channel]:
                return
        raise redis.TimeoutError(f"Redis did not confirm the subscription to {self.channel!r}")

    def read(self, timeout_s: float, most: int = _MOST) -> list[bytes]:
        """The keys of the notifications that arrive within ``timeout_s`` (those
        already received at once, up to ``most``): empty if none did."""
        parse = self._parse
        reply = parse(timeout_s)
        keys: list[bytes] = []
        # Messages already read off the socket come without another system call.
        while reply is not None:
            if isinstance(reply, list) and reply[0] == b"message":
                keys.append(reply[2])
                if len(keys) >= most:
                    break
            reply = parse(0)
        return keys

    def drain(self, count: Callable[[list[bytes]], None], timeout_s: float) -> bool:
        """Unsubscribe and ``count`` the keys of the notifications still on their way
        (in Redis' output buffer and the socket) until Redis confirms: what it
        published before the ``UNSUBSCRIBE`` comes before that confirmation. False
        when it did not come within ``timeout_s``."""
        self._pubsub.unsubscribe(self.channel)  # type: ignore[no-untyped-call]
        deadline = time.monotonic() + timeout_s
        keys: list[bytes] = []
        done = False
        while not done and (left := deadline - time.monotonic()) > 0:
            reply = self._parse(min(left, 0.1))
            if isinstance(reply, list) and reply[0] == b"message":
                keys.append(reply[2])
            elif isinstance(reply, list) and reply[:2] == [b"unsubscribe", self.channel]:
                done = True
            if len(keys) >= _MOST:
                count(keys)
                keys = []
        count(keys)
        return done

    def close(self) -> None:
        self._pubsub.reset()


class ListenCommands(StoreBase):
    """The listener's reads and writes of the cache Redis."""

    def notify_flags(self) -> str | None:
        """``notify-keyspace-events`` now, or None where CONFIG is refused."""
        try:
            reply = cast(dict[str, Any], self.client.config_get(NOTIFY_CONFIG))
        except redis.ResponseError:
            return None
        return text(reply[NOTIFY_CONFIG]) if NOTIFY_CONFIG in reply else None

    def set_notify_flags(self, flags: str) -> None:
        """``CONFIG SET notify-keyspace-events``; ResponseError where it is refused."""
        self.client.config_set(NOTIFY_CONFIG, flags)

    def server_misses(self) -> ServerMisses:
        pipe = self.client.pipeline(transaction=False)
        pipe.info("server")
        pipe.info("stats")
        server, stats = pipe.execute()
        return ServerMisses(str(server["run_id"]), int(stats["keyspace_misses"]))

    def miss_probe(self) -> None:
        """Read a key that never exists: Redis publishes its key miss, if it publishes any."""
        self.client.get(self._own(c.LISTEN_PROBE_KEY))

    def probe_key(self) -> bytes:
        return self._own(c.LISTEN_PROBE_KEY).encode()

    def listen_state(self) -> ListenState:
        return ListenState.parse(cast(dict[Any, Any], self.client.hgetall(self._own(c.LISTEN_KEY))))

    def save_listen(
        self,
        *,
        counted: int,
        ignored: int,
        lost: int,
        server: ServerMisses,
        beat_at: float,
    ) -> None:
        """Add to the counters and keep this checkpoint, in one transaction: a listener
        that starts later estimates its gap from the same moment the counts reached."""
        key = self._own(c.LISTEN_KEY)
        pipe = self.client.pipeline(transaction=True)
        for name, n in (("counted", counted), ("ignored", ignored), ("lost", lost)):
            pipe.hincrby(key, name, n)
        pipe.hset(
            key,
            mapping={
                "run_id": server.run_id,
                "keyspace_misses": server.keyspace_misses,
                "beat_at": beat_at,
            },
        )
        pipe.execute()

    def hold_listener(self, token: str, ttl_s: float) -> tuple[str, bool]:
        """Take or keep the listener's heartbeat for ``token``: the holder's token
        (another listener's while it beats), and whether this call took it anew."""
        key = self._own(c.LISTEN_ALIVE_KEY)
        holder, fresh = self._run("listen_hold", [key], [token, int(ttl_s * 1000)])
        return text(holder), bool(fresh)

    def release_listener(self, token: str) -> None:
        self._run("lock_release", [self._own(c.LISTEN_ALIVE_KEY)], [token])

    def listener(self) -> str | None:
        """The token of the listener at work, or None."""
        held = self.client.get(self._own(c.LISTEN_ALIVE_KEY))
        return None if held is None else text(cast(bytes, held))
