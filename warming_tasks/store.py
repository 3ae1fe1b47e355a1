"""Every Redis command the suite sends: cache writes and probes, the frequency
set, run records, the refresh lock. Nothing else in the package talks to Redis.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from enum import StrEnum
from importlib import resources
from typing import Any, cast
from urllib.parse import urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.commands.core import Script
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from . import constants as c
from .errors import SettingsError
from .settings import Settings, redact_url

Value = str | bytes
Entry = tuple[str, Value, int]  # key, value, ttl in seconds
Client = redis.Redis | RedisCluster
# What a batch warmed, for accounting: strategy code, keys written, a sample of
# (key, ttl_s), and when they were written (s).
Warmed = tuple[int, int, Sequence[tuple[str | bytes, int]], float]
_ACCOUNTING = (c.WARMED_KEY, c.ACCOUNT_KEY)

# Errors worth a retry: the cache was unreachable, not wrong.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.BusyLoadingError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)


# Subclasses of ConnectionError that no retry will mend: a refused password.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (redis.AuthenticationError,)


def retryable(exc: BaseException) -> bool:
    """Whether ``exc`` says the cache was unreachable (worth a retry), not refusing us."""
    return isinstance(exc, CONNECTION_ERRORS) and not isinstance(exc, PERMANENT_ERRORS)


class WriteMode(StrEnum):
    """How a batch write treats keys already in the cache."""

    SET = "set"  # preload: always write
    NX = "nx"  # predictive: only where absent
    LIVE = "live"  # refresh: only where present with a TTL


def _script(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text()


def connect(settings: Settings, *, for_tracker: bool = False) -> Client:
    """A client for the cache Redis (or Redis Cluster); the tracker's fails fast."""
    options: dict[str, Any] = {}
    if for_tracker:
        options |= {
            "socket_connect_timeout": c.TRACKER_CONNECT_TIMEOUT_S,
            "socket_timeout": c.TRACKER_SOCKET_TIMEOUT_S,
        }
    else:
        options |= {
            "socket_connect_timeout": c.CACHE_SOCKET_TIMEOUT_S,
            "socket_timeout": c.CACHE_SOCKET_TIMEOUT_S,
        }
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


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class CacheStore:
    """The cache Redis as the suite sees it, with ``key_prefix`` applied to every key."""

    def __init__(self, client: Client, prefix: str = "") -> None:
        self.client = client
        self.prefix = prefix
        # On a cluster a batch's keys live on many slots: probes and writes go as
        # per-key commands in one pipeline per node instead of one script.
        self.cluster = isinstance(client, RedisCluster)
        self._scripts: dict[str, Script] = {}

    def _run(self, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(_script(name))
        with self._topology_guard():
            return script(keys=keys, args=args)

    @contextlib.contextmanager
    def _topology_guard(self) -> Iterator[None]:
        """On a cluster, a node that stopped answering makes the client re-learn the
        slot map from the nodes still up, so the batch's retry finds the promoted
        replica instead of knocking on the dead master again."""
        try:
            yield
        except CONNECTION_ERRORS:
            if isinstance(self.client, RedisCluster):
                with contextlib.suppress(Exception):
                    self.client.nodes_manager.initialize()
            raise

    def key(self, key: str | bytes) -> str | bytes:
        # Redis keys are binary: a bytes key from the source is written as those bytes.
        if isinstance(key, bytes):
            return self.prefix.encode() + key
        return f"{self.prefix}{key}"

    def _own(self, name: str) -> str:
        return f"{self.prefix}{name}"

    # -- the cache ---------------------------------------------------------------

    def pttls(self, keys: Sequence[str]) -> list[int]:
        """Milliseconds left for each key (-2 missing, -1 no expiry), one round trip."""
        if not keys:
            return []
        if self.cluster:
            pipe = self.client.pipeline()
            for key in keys:
                pipe.pttl(self.key(key))
            with self._topology_guard():
                return [int(t) for t in pipe.execute()]
        return [int(t) for t in self._run("pttl", [self.key(k) for k in keys], [])]

    def write(self, entries: Sequence[Entry], mode: WriteMode) -> list[bool | str]:
        """Write a batch in one round trip: per entry True (written), False (left
        alone by ``mode``) or the error Redis gave for that key alone."""
        if not entries:
            return []
        if self.cluster:
            return self._write_each(entries, mode)
        args: list[Any] = [mode.value]
        for _, value, ttl_s in entries:
            args += [value, ttl_s]
        replies = self._run("write", [self.key(k) for k, _, _ in entries], args)
        return [r == 1 if isinstance(r, int) else _text(r) for r in replies]

    def _write_each(self, entries: Sequence[Entry], mode: WriteMode) -> list[bool | str]:
        pipe = self.client.pipeline()
        live = _script("write_live_one") if mode is WriteMode.LIVE else ""
        for key, value, ttl_s in entries:
            if mode is WriteMode.LIVE:
                pipe.execute_command("EVAL", live, 1, self.key(key), value, ttl_s)
            else:
                pipe.set(self.key(key), value, ex=ttl_s, nx=mode is WriteMode.NX)
        with self._topology_guard():
            replies = pipe.execute(raise_on_error=False)
            for reply in replies:
                if isinstance(reply, CONNECTION_ERRORS):
                    raise reply  # the node is down: let the batch retry
        return [_text(str(r)) if isinstance(r, Exception) else r is True or r == 1 for r in replies]

    def get(self, key: str) -> bytes | None:
        return cast(bytes | None, self.client.get(self.key(key)))

    def ttl_s(self, key: str) -> int:
        return int(self.client.ttl(self.key(key)))

    def expire(self, key: str, ttl_s: int) -> None:
        self.client.expire(self.key(key), ttl_s)

    # -- the frequency set ---------------------------------------------------------

    def epoch(self) -> int | None:
        raw = self.client.get(self._own(c.EPOCH_KEY))
        return int(raw) if raw is not None else None

    def add_accesses(
        self,
        weights: Mapping[str, float],
        epoch: int,
        max_keys: int,
        read_since: float,
        sweep_before: float = 0.0,
    ) -> int | None:
        """Add weights computed against ``epoch``; the stored epoch if it differs.

        The same call settles the warmed-key samples among these keys (read in
        time if they expire after ``read_since``, the earliest the reads can date
        from) and counts samples that expired before ``sweep_before`` unread.
        """
        keys = [self._own(name) for name in (c.FREQUENCY_KEY, c.EPOCH_KEY, *_ACCOUNTING)]
        args: list[Any] = [epoch, max_keys, read_since, sweep_before, c.WARMED_SWEEP_PER_FLUSH]
        for member, weight in weights.items():
            args += [member, repr(weight)]
        reply = self._run("flush", keys, args)
        return None if int(reply[0]) == 1 else int(reply[1])

    def rebase(self, old_epoch: int, new_epoch: int, factor: float) -> bool:
        keys = [self._own(c.FREQUENCY_KEY), self._own(c.EPOCH_KEY)]
        return bool(self._run("rebase", keys, [old_epoch, new_epoch, repr(factor)]))

    def top_keys(self, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` highest-scored members, highest first."""
        rows = self.client.zrevrange(self._own(c.FREQUENCY_KEY), 0, limit - 1, withscores=True)
        return [(_text(member), float(score)) for member, score in cast(list[Any], rows)]

    def frequency_size(self) -> int:
        return int(self.client.zcard(self._own(c.FREQUENCY_KEY)))

    def frequency_scores(self, keys: Sequence[str]) -> list[float | None]:
        """Each key's stored score in the frequency set, None where it has none."""
        if not keys:
            return []
        rows = self.client.zmscore(self._own(c.FREQUENCY_KEY), list(keys))
        return [None if s is None else float(s) for s in cast(list[Any], rows)]

    def account_counters(self) -> dict[str, int]:
        """The accounting counters: ``warmed|sampled|read|expired:<strategy code>``."""
        raw = cast(dict[bytes, bytes], self.client.hgetall(self._own(c.ACCOUNT_KEY)))
        return {_text(k): int(v) for k, v in raw.items()}

    # -- runs ----------------------------------------------------------------------

    def _run_keys(self, run_id: str) -> list[str]:
        base = self._own(f"{c.RUN_KEY_PREFIX}{run_id}")
        return [base, f"{base}:done", f"{base}:errors"]

    def start_run(self, run_id: str, fields: Mapping[str, str | int | float]) -> None:
        """Open a run's record; re-opening a redelivered run keeps its counts."""
        run_key = self._run_keys(run_id)[0]
        pipe = self.client.pipeline()
        for name, value in fields.items():
            pipe.hsetnx(run_key, name, value)
        pipe.expire(run_key, c.RUN_STATE_TTL_S)
        pipe.execute()

    def note_dispatched(self, run_id: str, batches: int) -> None:
        self.client.hset(self._run_keys(run_id)[0], "dispatched", batches)

    def set_run_count(self, run_id: str, name: str, value: int) -> None:
        """Set a count the dispatcher owns (batches add to theirs with HINCRBY)."""
        self.client.hset(self._run_keys(run_id)[0], name, value)

    def note_dispatch_error(self, run_id: str, reason: str) -> None:
        self.client.hset(self._run_keys(run_id)[0], "dispatch_error", reason)

    def finish_dispatch(self, run_id: str, batches: int) -> bool:
        """Record the run's batch count; True if all of them had already finished.

        The first complete dispatch fixes the count: a redelivered dispatcher
        cannot change it.
        """
        keys = self._run_keys(run_id)[:2]
        return bool(self._run("dispatch_done", keys, [batches, time.time()]))

    def finish_batch(
        self,
        run_id: str,
        index: int,
        counts: Mapping[str, int],
        errors: Iterable[Mapping[str, str]],
        lock_token: str = "",
        warmed: Warmed = (0, 0, (), 0.0),
    ) -> bool:
        """Count a batch into its run once; True when the whole run has finished.

        ``warmed`` (strategy code, keys written, sample of (key, ttl_s), written at)
        goes into the accounting of what the application reads, in the same round trip.
        """
        shown = [json.dumps(e, ensure_ascii=False) for e in errors][: c.ERROR_SAMPLE_LEN]
        code, written, sample, written_at = warmed
        args: list[Any] = [
            index,
            lock_token,
            c.REFRESH_LOCK_TTL_S * 1000,
            c.RUN_STATE_TTL_S,
            c.ERROR_SAMPLE_LEN,
            time.time(),
            len(counts),
            len(shown),
            code,
            written,
            c.WARMED_MAX_KEYS,
            written_at or time.time(),
        ]
        for name, value in counts.items():
            args += [name, value]
        args += shown
        for key, ttl_s in sample:
            args += [key, ttl_s]
        keys = [
            *self._run_keys(run_id),
            self._own(c.REFRESH_LOCK_KEY),
            *(self._own(name) for name in _ACCOUNTING),
        ]
        return bool(self._run("batch_done", keys, args))

    def run_state(self, run_id: str) -> dict[str, str]:
        run_key, done_key, _ = self._run_keys(run_id)
        pipe = self.client.pipeline()
        pipe.hgetall(run_key)
        pipe.scard(done_key)
        raw, done = pipe.execute()
        state = {_text(k): _text(v) for k, v in raw.items()}
        if state:
            state["batches_done"] = str(done)
        return state

    def run_errors(self, run_id: str) -> list[dict[str, str]]:
        rows = self.client.lrange(self._run_keys(run_id)[2], 0, c.ERROR_SAMPLE_LEN - 1)
        return [json.loads(r) for r in cast(list[bytes], rows)]

    def close_run(self, run_id: str, summary: Mapping[str, Any]) -> bool:
        """Add a finished run to the history once; False if it was already there."""
        run_key = self._run_keys(run_id)[0]
        if not self.client.hsetnx(run_key, "recorded", 1):
            return False
        pipe = self.client.pipeline()
        pipe.lpush(self._own(c.RUNS_KEY), json.dumps(summary, ensure_ascii=False))
        pipe.ltrim(self._own(c.RUNS_KEY), 0, c.RUN_HISTORY_LEN - 1)
        pipe.execute()
        return True

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.client.lrange(self._own(c.RUNS_KEY), 0, limit - 1)
        return [json.loads(r) for r in cast(list[bytes], rows)]

    # -- the refresh lock ----------------------------------------------------------

    def acquire_lock(self, token: str, ttl_s: float = c.REFRESH_LOCK_TTL_S) -> str:
        """Take the refresh lock for ``token``; returns the holder's token."""
        holder = self._run(
            "lock_acquire", [self._own(c.REFRESH_LOCK_KEY)], [token, int(ttl_s * 1000)]
        )
        return _text(holder)

    def extend_lock(self, token: str, ttl_s: float = c.REFRESH_LOCK_TTL_S) -> bool:
        """Keep (or take back, if it expired) the lock for ``token``; False if another holds it."""
        keys = [self._own(c.REFRESH_LOCK_KEY)]
        return bool(self._run("lock_extend", keys, [token, int(ttl_s * 1000)]))

    def release_lock(self, token: str) -> bool:
        return bool(self._run("lock_release", [self._own(c.REFRESH_LOCK_KEY)], [token]))

    def lock_holder(self) -> tuple[str, int] | None:
        """The token holding the refresh lock and its ms left, or None."""
        pipe = self.client.pipeline()
        pipe.get(self._own(c.REFRESH_LOCK_KEY))
        pipe.pttl(self._own(c.REFRESH_LOCK_KEY))
        holder, pttl = pipe.execute()
        return None if holder is None else (_text(holder), int(pttl))

    def config_value(self, name: str) -> str | None:
        """A server config value, or None when the server forbids CONFIG (managed Redis)."""
        try:
            reply = cast(dict[str, str], self.client.config_get(name))
        except redis.ResponseError:
            return None
        return _text(reply[name]) if name in reply else None
