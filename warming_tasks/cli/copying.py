"""``warming-tasks copy --from URL``: fill the cache from another Redis that still
holds the data, a run like the others (progress, summary, pause and cancel).

Before it enqueues, the command reaches the other server and checks what would stop
the run at once (a wrong URL or password, the cache itself, ``--top`` with no
ranking to read), so each is one line and an exit code here rather than a failed
task. A URL with a password is kept for the run in the cache Redis and the task is
sent the URL masked (see ``tasks/copying.py``).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from typing import Any

import click
import redis
from celery import Celery
from celery.result import AsyncResult

from .. import runtime
from ..copier import AUTO, METHODS, plan
from ..errors import CopyArgumentError
from ..kinds import Kind
from ..ops.startup import check_cache_url
from ..retries import REFUSED
from ..settings import redact_url
from ..store.origin import Origin
from ..tasks.copying import refuse_the_cache_itself
from .commands import Send, follow_options, run
from .console import EXIT_USAGE, fail
from .follow import enqueue


@click.command(name="copy")
@click.option(
    "--from",
    "from_url",
    required=True,
    metavar="URL",
    help="The Redis to copy from (redis://, rediss://, unix://; for a Redis Cluster any "
    "node, found out by asking it). Its password is never printed, logged or put in a "
    "Celery message.",
)
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Copy the N hottest keys, hottest first: ranked by the other server's frequency "
    "set, else its OBJECT FREQ under an LFU maxmemory-policy, else the cache's frequency "
    "set; a ranking of fewer keys is said (ranked in the summary).",
)
@click.option(
    "--all",
    "all_keys",
    is_flag=True,
    help="Copy every key of the other server (SCAN; every primary of a cluster), the "
    "suite's own records excepted.",
)
@click.option(
    "--persistent",
    is_flag=True,
    help="Copy keys without a TTL too [default: left, counted as skipped_persistent].",
)
@click.option(
    "--method",
    type=click.Choice(METHODS),
    default=AUTO,
    show_default=True,
    help="dump: DUMP and RESTORE, any type, the same bytes; get_set: GET and SET with the "
    "TTL left, strings only; auto: dump where the cache takes the other server's dump "
    "format, else get_set.",
)
@follow_options
def copy_command(  # noqa: PLR0913, PLR0917 - the command's options
    from_url: str,
    top: int | None,
    all_keys: bool,
    persistent: bool,
    method: str,
    no_wait: bool,
    as_json: bool,
    timeout: float | None,
    local: bool,
) -> None:
    """Copy the keys the cache lacks from another Redis that still holds them.

    After a failover, a resize or a new region: the cache is filled from a warm
    Redis, not from the database. Each key keeps the TTL it has left there; a key
    the cache already holds is never overwritten (skipped_existing). The source
    budget (WARMING_SOURCE_RATE) paces the reads from the other server.
    """
    if top is not None and all_keys:
        raise click.UsageError("--top and --all exclude each other: give one")
    if top is None and not all_keys:
        raise click.UsageError("give --top N (the N hottest keys) or --all (every key)")
    check_cache_url(runtime.get_settings())  # nothing is checked while a setting is wrong
    _preflight(from_url, top)
    shown = redact_url(from_url)
    keep = shown != from_url  # a password (or a password= query) to keep off the wire
    kwargs: dict[str, Any] = {
        "from_url": shown,
        "from_kept": keep,
        "persistent": persistent,
        "method": method,
        **({"top": top} if top is not None else {"all_keys": True}),
    }
    run(
        Kind.COPY,
        kwargs,
        no_wait,
        as_json,
        timeout,
        local,
        send=_keeping(from_url) if keep else None,
        note=None if top is None else _ranked_fewer(top),
    )


def _ranked_fewer(top: int) -> Callable[[dict[str, Any]], str | None]:
    """The line that says the ranking held fewer keys than --top asked for."""

    def note(summary: dict[str, Any]) -> str | None:
        ranked = int(summary.get("ranked", 0))
        if summary.get("cancelled") or summary.get("stalled") or ranked >= top:
            return None
        return (
            f"--top {top:,}: the ranking ({summary.get('listing')}) held only {ranked:,} "
            "keys; copy the rest with --all"
        )

    return note


def _preflight(url: str, top: int | None) -> None:
    """One line and an exit code for what would stop the run at once."""
    shown = redact_url(url)
    try:
        origin = Origin.from_url(url, runtime.get_settings().key_prefix)
    except CopyArgumentError as exc:
        fail(str(exc), EXIT_USAGE)
    except REFUSED as exc:
        fail(f"the other server at {shown} refused us: {exc}")
    except redis.RedisError as exc:
        fail(f"cannot reach the other server at {shown}: {exc}")
    try:
        store = runtime.get_store()
        refuse_the_cache_itself(origin, store)
        plan(origin, store, top, runtime.get_format().redis_key)
    except CopyArgumentError as exc:
        fail(str(exc), EXIT_USAGE)
    except redis.RedisError as exc:
        fail(f"cannot prepare the copy from {shown}: {exc}")
    finally:
        origin.close()


def _keeping(url: str) -> Send:
    """Send the copy with the URL kept for its run in the cache Redis (the task is
    given it masked), under a run id chosen here; forgotten if the send fails."""

    def send(app: Celery, kwargs: dict[str, Any]) -> AsyncResult:
        run_id = str(uuid.uuid4())
        store = runtime.get_store()
        try:
            store.keep_copy_from(run_id, url, runtime.get_settings().run_stall_s)
        except redis.RedisError as exc:
            cache = redact_url(runtime.get_settings().redis_url)
            fail(f"cannot keep the other server's URL in the cache Redis at {cache}: {exc}")
        try:
            return enqueue(app, Kind.COPY, kwargs, task_id=run_id)
        except BaseException:
            with contextlib.suppress(Exception):
                store.forget_copy_from(run_id)
            raise

    return send
