"""``warming-tasks listen``: the cache's key misses, as Redis reports them, counted into
the access ranking; ``--health`` says whether a listener is at work."""

from __future__ import annotations

import json
import logging
import signal
import sys
import time

import click
import redis

from .. import runtime
from ..listen import Listener
from ..listen.keys import KeyMap, key_map_for
from ..settings import Settings, Strategy, redact_url
from ..store import CacheStore
from ..store.listen import listener_client
from ..tracker import AccessTracker
from .console import EXIT_USAGE, fail, out


@click.command()
@click.option(
    "--health",
    is_flag=True,
    help="Do not listen: exit 0 if a listener counts this cache's key misses now, "
    "else 1 with one line (a container health check).",
)
def listen(health: bool) -> None:
    """Count the cache's key misses, as Redis reports them, for predictive loads.

    Redis publishes a notification for every read of an absent key, by any client
    in any language (notify-keyspace-events with E and m; turned on with CONFIG SET
    where they are off). Each miss of one of the application's keys, mapped back
    through WARMING_FORMAT, counts into the access ranking as
    track_access(key, hit=False) would. The suite's own keys and keys the format
    does not name are ignored. Runs until stopped (SIGTERM, Ctrl-C); one listener
    counts at a time, another stands by. Misses while none listens are lost, and
    estimated from Redis' keyspace_misses.
    """
    settings = runtime.get_settings()
    where = redact_url(settings.redis_url)
    if health:
        _health(where)
        return
    if not settings.enable_prediction:
        fail(
            "WARMING_ENABLE_PREDICTION=false: nothing would use the misses listen counts "
            "(predictive loads are off)",
            EXIT_USAGE,
        )
    key_map = key_map_for(runtime.get_format(), settings.format, settings.key_prefix)
    listener = _listener(settings, key_map, where)
    _log_to_stderr()
    advice = refresh_advice(settings)
    if advice:
        logging.getLogger("warming_tasks.listen").warning("%s", advice)
    # A stop saves the counts and hands the heartbeat over: nothing counted is lost.
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda _number, _frame: listener.stop())
    try:
        listener.run()
    except redis.ResponseError as exc:  # an ACL that denies what listen needs, say
        fail(f"the cache Redis at {where} refused a command listen needs: {_one_line(exc)}")
    except redis.RedisError as exc:
        fail(f"cannot reach the cache Redis at {where}: {_one_line(exc)}")


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def refresh_advice(settings: Settings) -> str | None:
    """A word for a site where refresh skips keys that are not read: Redis publishes
    misses, never hits, so a key the application reads from the cache all day looks
    unread to refresh unless something else counts its reads."""
    if not settings.refresh_unread_after or settings.allows(Strategy.BACKGROUND_REFRESH):
        return None
    return (
        f"WARMING_REFRESH_UNREAD_AFTER={settings.refresh_unread_after:g}: refresh skips due "
        "keys not read within that long, and listen counts misses only, never the hits of "
        "keys that stay cached; unless a tracking backend or track_access counts the "
        "application's reads too, set WARMING_REFRESH_UNREAD_AFTER=0 on the workers"
    )


def _listener(settings: Settings, key_map: KeyMap, where: str) -> Listener:
    client = listener_client(settings)
    return Listener(
        store=CacheStore(client, settings.key_prefix),
        feed_client=client,
        key_map=key_map,
        tracker=AccessTracker(settings),
        interval_s=settings.flush_interval,
        where=where,
    )


def _log_to_stderr() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s warming-tasks listen: %(message)s",
    )


def _health(where: str) -> None:
    try:
        holder = runtime.get_own_store().listener()
    except redis.RedisError as exc:
        fail(f"cannot reach the cache Redis at {where}: {_one_line(exc)}")
    if holder is None:
        fail(f"no listener counts the key misses of {where}: none holds its heartbeat")
    out.print(f"a listener counts the key misses of {where}: {_described(holder)}", markup=False)


def _described(holder: str) -> str:
    try:
        who = json.loads(holder)
        since = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(who["since"])))
        return f"pid {who['pid']} on {who['host']}, since {since}"
    except (ValueError, KeyError, TypeError):
        return holder
