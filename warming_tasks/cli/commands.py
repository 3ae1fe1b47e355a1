"""The ``warming-tasks`` command: enqueue runs and follow them, show stats, run the demo.

Exit codes: 0 success; 1 the run failed or cannot run (no worker, a server out of
reach, a timeout); 2 bad settings or arguments; 3 the run finished but some keys
failed. Every failure is one line on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
import redis
from celery import Celery
from celery.result import AsyncResult
from kombu.exceptions import OperationalError

from .. import constants as c
from .. import runtime
from ..errors import SettingsError, SourceError, WarmingError
from ..kinds import Kind
from ..ops.agreement import PROBE_KEY, describe, server_id
from ..ops.startup import check_cache_url
from ..runtime import get_settings
from ..settings import redact_url
from .console import EXIT_FAILED, EXIT_KEYS_FAILED, EXIT_USAGE, Failure, err, fail, out
from .follow import await_consumers, consumers, disagreeing, enqueue, follow, run_queue
from .listen import listen
from .local import local_worker
from .operate import cancel, check, metrics, pause, resume
from .render import print_settings, print_stats, print_summary

DEFAULT_TIMEOUT_S = 600.0


class WarmingCLI(click.Group):
    """A group that turns every expected failure into one line and an exit code."""

    def main(self, *args: Any, **kwargs: Any) -> NoReturn:
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = " (see warming-tasks --help)" if exc.ctx is None else ""
            _say(f"{exc.format_message()}{hint}")
            sys.exit(EXIT_USAGE)
        except (click.Abort, KeyboardInterrupt):
            _say("interrupted")
            # Everything this command started is stopped by now (finally blocks).
            # Exit at once: a second interrupt swallowed by a finalizer during a
            # normal shutdown could still turn the status into a death by signal.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(130)
        except Failure as exc:
            _say(str(exc))
            sys.exit(exc.code)
        except (SettingsError, SourceError) as exc:
            _say(str(exc))
            sys.exit(EXIT_USAGE)
        except WarmingError as exc:
            _say(str(exc))
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else 0)


def _say(message: str) -> None:
    first = message.strip().splitlines()[0] if message.strip() else "failed"
    click.echo(f"warming-tasks: {first}", err=True)


@click.group(cls=WarmingCLI, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="warming-tasks", prog_name="warming-tasks")
def cli() -> None:
    """Keep a Redis cache warm with Celery: preload, refresh, predictive loads.

    Configured by WARMING_* and CELERY_* environment variables, or in a Django
    project by the WARMING dict of its settings module (see the documentation).

    \b
    Exit codes:
      0  success
      1  the run failed or cannot run (no worker, a server out of reach, a timeout,
         keys it could not list, its record lost from the cache Redis)
      2  bad settings or arguments, or workers that write elsewhere than this command
      3  the run finished but some keys failed (the count on stderr)
    """


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--source",
        "source",
        metavar="NAME",
        default=None,
        help="Run the source of this name alone (WARMING_SOURCES) [default: every source].",
    )(func)
    return follow_options(func)


def follow_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every run command: how it waits for the run, and where it runs."""
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=None,
        help="Seconds to wait for the summary [default: 600, or longer than "
        "WARMING_RUN_STALL_S and the stall check, so a lost batch is reported as lost].",
    )(func)
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print the summary as JSON, for scripts."
    )(func)
    func = click.option("--no-wait", is_flag=True, help="Print the task id and return at once.")(
        func
    )
    func = click.option(
        "--local",
        is_flag=True,
        help="Run the tasks in this process, with no broker and no worker (a one-off, "
        "or a site without workers); the cache is the one the settings name.",
    )(func)
    return func


@cli.command()
@click.option(
    "--by-popularity/--source-order",
    default=None,
    help="Load the most-read keys first, or in the source's order "
    "[default: WARMING_PRELOAD_BY_POPULARITY].",
)
@run_options
def preload(  # noqa: PLR0913, PLR0917 - the command's options
    by_popularity: bool | None,
    no_wait: bool,
    as_json: bool,
    timeout: float | None,
    local: bool,
    source: str | None,
) -> None:
    """Load every hot key of the sources into the cache."""
    kwargs = {} if by_popularity is None else {"by_popularity": by_popularity}
    run(Kind.PRELOAD, kwargs, no_wait, as_json, timeout, local, source)


@cli.command()
@run_options
def refresh(
    no_wait: bool, as_json: bool, timeout: float | None, local: bool, source: str | None
) -> None:
    """Reload the hot keys that expire within WARMING_REFRESH_THRESHOLD seconds."""
    run(Kind.REFRESH, {}, no_wait, as_json, timeout, local, source)


@cli.command()
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="How many top keys to consider [default: WARMING_PREDICTIVE_LIMIT].",
)
@run_options
def predict(  # noqa: PLR0913, PLR0917 - the command's options
    limit: int | None,
    no_wait: bool,
    as_json: bool,
    timeout: float | None,
    local: bool,
    source: str | None,
) -> None:
    """Load the most-read keys that are not cached, each by the source that claims it."""
    kwargs = {"limit": limit} if limit else {}
    run(Kind.PREDICTIVE, kwargs, no_wait, as_json, timeout, local, source)


Send = Callable[[Celery, dict[str, Any]], AsyncResult]


def run(  # noqa: PLR0913, PLR0917 - a run command's options
    kind: Kind,
    kwargs: dict[str, Any],
    no_wait: bool,
    as_json: bool,
    timeout: float | None,
    local: bool = False,
    source: str | None = None,
    send: Send | None = None,
    note: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    """Enqueue a run (with ``send``, where it is not a plain ``enqueue``: a copy keeps
    its other server's URL first) and follow it to its summary and exit code."""
    send = send or _enqueue(kind)
    if local and no_wait:
        raise click.UsageError("--local runs in this process: it cannot --no-wait")
    settings = get_settings()
    if timeout is None:
        # Outlast the stall close (no progress for run_stall_s, found within a check's
        # period): a run with a lost batch then ends here as lost, not as a timeout.
        timeout = max(DEFAULT_TIMEOUT_S, settings.run_stall_s + c.STALL_CHECK_MAX_S + 30)
    check_cache_url(settings)  # nothing is enqueued while a setting is wrong
    fmt = runtime.get_format()
    # The workers will need them: say now if one is wrong (a copy reads no source).
    sources = runtime.get_sources() if kind.uses_source else {}
    if source is not None:
        if source not in sources:
            fail(
                f"no source is named {source!r} (the sources are: {', '.join(sources)})", EXIT_USAGE
            )
        kwargs = kwargs | {"source": source}
    from ..app import app  # noqa: PLC0415 - the app only for commands that enqueue

    if local:
        with local_worker(app, run_queue(app)):
            _follow_to_summary(send(app, kwargs), kind, as_json, timeout, note)
        return
    broker = redact_url(str(app.conf.broker_url))
    queue = run_queue(app)
    try:
        # A run that will be followed needs a worker now; one enqueued for later is
        # checked against the workers that answer, if any do.
        workers = consumers(app, queue) if no_wait else await_consumers(app, queue)
        if not workers and not no_wait:
            fail(
                f"no worker consumes the queue {queue!r} at {broker}: start one with "
                "`celery -A warming_tasks worker"
                f"{'' if queue == 'celery' else f' -Q {queue}'}`"
            )
        mine = describe(settings, fmt.redis_key(PROBE_KEY), server_id(runtime.get_store().client))
        problem = disagreeing(app, workers, mine) if workers else None
    except OperationalError as exc:
        fail(f"cannot reach the broker at {broker}: {exc}")
    if problem:
        fail(problem, EXIT_USAGE)
    try:
        result = send(app, kwargs)
    except OperationalError as exc:
        fail(f"cannot reach the broker at {broker}: {exc}")
    except RuntimeError as exc:  # Celery gives up on the result backend this way
        backend = redact_url(str(app.conf.result_backend))
        fail(f"cannot reach the result backend at {backend}: {' '.join(str(exc).split())}")
    if no_wait:
        out.print(json.dumps({"task_id": result.id}) if as_json else result.id)
        return
    _follow_to_summary(result, kind, as_json, timeout, note)


def _enqueue(kind: Kind) -> Send:
    """The plain way to start a run of ``kind``: its entry task, sent."""

    def send(app: Celery, kwargs: dict[str, Any]) -> AsyncResult:
        return enqueue(app, kind, kwargs)

    return send


def _follow_to_summary(
    result: Any,
    kind: Kind,
    as_json: bool,
    timeout: float,
    note: Callable[[dict[str, Any]], str | None] | None = None,
) -> None:
    """Follow the run, print its summary (and ``note``'s line on stderr, where it has
    one to say), exit as it went."""
    summary = follow(result, kind, runtime.get_store(), timeout, show_progress=not as_json)
    if as_json:
        out.print(json.dumps(summary), markup=False)
    else:
        print_summary(summary)
    if note is not None and (line := note(summary)):
        err.print(f"warming-tasks: {line}", markup=False)
    exit_for(kind, summary)


def exit_for(kind: Kind, summary: dict[str, Any]) -> None:
    """Fail, with one line, a run that did not warm all it was meant to."""
    if summary.get("dispatch_error"):
        fail(f"the run could not list all its keys: {summary['dispatch_error']}")
    if summary.get("lost", 0) > 0:
        fail(
            f"the run made no progress for WARMING_RUN_STALL_S and was closed: "
            f"{summary['lost']:,} of {summary['batches']:,} batches never reported (lost)"
        )
    if summary.get("stalled"):
        fail(
            "the run made no progress for WARMING_RUN_STALL_S and was closed before "
            "its keys were all listed (the dispatcher stopped)"
        )
    if summary.get("cancelled", 0) > 0:
        fail(f"the run was stood down: {summary['cancelled']:,} keys not warmed (cancelled)")
    if summary.get("failed", 0) > 0:
        fail(failed_line(kind, summary), EXIT_KEYS_FAILED)


def failed_line(kind: Kind, summary: dict[str, Any]) -> str:
    """``16,000 of 20,000 keys failed; first reason: …`` for a run with failed keys."""
    total = sum(int(summary.get(name, 0)) for name in kind.considered)
    errors = summary.get("errors") or [{"reason": "not recorded"}]
    return f"{summary['failed']:,} of {total:,} keys failed; first reason: {errors[0]['reason']}"


@cli.command()
@click.option(
    "--top",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="How many of the most read keys to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON, for scripts.")
def stats(top: int, as_json: bool) -> None:
    """Show the most read keys, recent runs and whether a refresh run holds the lock."""
    from ..ops.stats import collect  # noqa: PLC0415 - stats only when asked for

    settings = get_settings()
    try:
        data = collect(runtime.get_own_store(), settings, top)
    except redis.RedisError as exc:
        fail(f"cannot read the cache Redis at {redact_url(settings.redis_url)}: {exc}")
    if as_json:
        out.print(json.dumps(data), markup=False)
        return
    print_stats(data)


@cli.command(name="settings")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON, for scripts.")
def show_settings(as_json: bool) -> None:
    """Show the effective settings and where each came from, passwords masked."""
    from ..app import app, config_module  # noqa: PLC0415 - the app only when asked for
    from ..ops.effective import effective  # noqa: PLC0415

    rows = effective(get_settings(), config_module(), app.conf)
    if as_json:
        out.print(json.dumps(rows), markup=False)
    else:
        print_settings(rows)


@cli.command()
@click.option(
    "--redis-url",
    default=None,
    metavar="URL",
    help="Use this Redis (cache on its db, broker and results on the next two) "
    "instead of starting an embedded server.",
)
@click.option(
    "--products",
    type=click.IntRange(min=100, max=1_000_000),
    default=5000,
    show_default=True,
    help="Size of the sample catalogue.",
)
def demo(redis_url: str | None, products: int) -> None:
    """Run the whole warming cycle on a sample source, with no services to set up."""
    from .demo import run_demo  # noqa: PLC0415 - the demo and its servers only when asked for

    run_demo(redis_url, products, out)


for _command in (check, pause, resume, cancel, metrics, listen):
    cli.add_command(_command)
