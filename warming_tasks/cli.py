"""The ``warming-tasks`` command: enqueue runs and follow them, show stats, run the demo.

Exit codes: 0 success; 2 bad settings or arguments (one line on stderr); 1 the
run itself failed, timed out, or a server could not be reached (one line).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import click
import redis
from kombu.exceptions import OperationalError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import SettingsError, SourceError, WarmingError
from .settings import get_settings, redact_url
from .source import load_source
from .startup import check_cache_url
from .store import CacheStore, connect
from .summary import Kind
from .watch import Progress as RunProgress
from .watch import RunFailed, RunTimeout, enqueue, wait

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILED = 1
EXIT_USAGE = 2


class Failure(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    raise Failure(message, code)


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
def cli() -> None:
    """Keep a Redis cache warm with Celery: preload, refresh, predictive loads.

    Configured by WARMING_* and CELERY_* environment variables (see the README).
    """


def run_options(func: Callable[..., Any]) -> Callable[..., Any]:
    func = click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=600.0,
        show_default=True,
        help="Seconds to wait for the summary.",
    )(func)
    func = click.option(
        "--json", "as_json", is_flag=True, help="Print the summary as JSON, for scripts."
    )(func)
    func = click.option("--no-wait", is_flag=True, help="Print the task id and return at once.")(
        func
    )
    return func


@cli.command()
@click.option(
    "--by-popularity/--source-order",
    default=None,
    help="Load the most-read keys first, or in the source's order "
    "[default: WARMING_PRELOAD_BY_POPULARITY].",
)
@run_options
def preload(by_popularity: bool | None, no_wait: bool, as_json: bool, timeout: float) -> None:
    """Load every hot key of the source into the cache."""
    kwargs = {} if by_popularity is None else {"by_popularity": by_popularity}
    run(Kind.PRELOAD, kwargs, no_wait, as_json, timeout)


@cli.command()
@run_options
def refresh(no_wait: bool, as_json: bool, timeout: float) -> None:
    """Reload the hot keys that expire within WARMING_REFRESH_THRESHOLD seconds."""
    run(Kind.REFRESH, {}, no_wait, as_json, timeout)


@cli.command()
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="How many top keys to consider [default: WARMING_PREDICTIVE_LIMIT].",
)
@run_options
def predict(limit: int | None, no_wait: bool, as_json: bool, timeout: float) -> None:
    """Load the most-read keys that are not cached."""
    run(Kind.PREDICTIVE, {"limit": limit} if limit else {}, no_wait, as_json, timeout)


def run(kind: Kind, kwargs: dict[str, Any], no_wait: bool, as_json: bool, timeout: float) -> None:
    settings = get_settings()
    check_cache_url(settings)  # nothing is enqueued while a setting is wrong
    load_source(settings.source)  # the workers will need it: say now if it is wrong
    from .app import app

    broker = redact_url(str(app.conf.broker_url))
    try:
        result = enqueue(app, kind, kwargs)
    except OperationalError as exc:
        fail(f"cannot reach the broker at {broker}: {exc}")
    except RuntimeError as exc:  # Celery gives up on the result backend this way
        backend = redact_url(str(app.conf.result_backend))
        fail(f"cannot reach the result backend at {backend}: {' '.join(str(exc).split())}")
    if no_wait:
        out.print(json.dumps({"task_id": result.id}) if as_json else result.id)
        return
    store = CacheStore(connect(settings), settings.key_prefix)
    summary = follow(result, kind, store, timeout, show_progress=not as_json)
    if as_json:
        out.print(json.dumps(summary), markup=False)
    else:
        print_summary(summary)


def follow(result: Any, kind: Kind, store: CacheStore, timeout: float, show_progress: bool) -> Any:
    """Wait for a run's summary, drawing its progress on stderr."""
    columns = (
        TextColumn(f"{kind.value}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("batches"),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    )
    # A bar is for a person at a terminal; in a pipe or a log it would only add noise.
    live = show_progress and err.is_terminal
    with Progress(*columns, console=err, transient=True, disable=not live) as bar:
        task = bar.add_task(kind.value, total=None, rate="")

        def update(p: RunProgress) -> None:
            bar.update(
                task,
                completed=p.batches_done,
                total=p.batches_sent if p.dispatch_finished else None,
                rate=f"{p.keys_per_s:,.0f} keys/s",
            )

        try:
            return wait(result, kind, store, timeout, update)
        except RunTimeout as exc:
            fail(str(exc))
        except RunFailed as exc:
            fail(f"the run failed: {exc}")
        except (OperationalError, redis.ConnectionError) as exc:
            fail(f"lost the result backend while waiting: {exc}")
        except WarmingError:
            raise
        except Exception as exc:
            fail(f"the run failed: {type(exc).__name__}: {exc}")


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"{summary.get('kind', 'run')} {summary.get('run_id') or ''}".strip())
    table.add_column("field")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        if name not in ("kind", "run_id", "errors", "started_at"):
            table.add_row(name, str(value))
    out.print(table)
    for error in summary.get("errors", []):
        out.print(f"  failed {error['key']!r}: {error['reason']}", markup=False)


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
    from .stats import collect

    settings = get_settings()
    store = CacheStore(connect(settings), settings.key_prefix)
    try:
        data = collect(store, settings, top)
    except redis.RedisError as exc:
        fail(f"cannot read the cache Redis at {redact_url(settings.redis_url)}: {exc}")
    if as_json:
        out.print(json.dumps(data), markup=False)
        return
    print_stats(data)


def print_strategies(data: dict[str, Any]) -> None:
    table = Table(title="what each strategy warmed, and how much the application read")
    for column in ("strategy", "warmed", "sampled", "read", "unread", "share"):
        table.add_column(column, justify="left" if column == "strategy" else "right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for row in data["strategies"]:
        share = row["read_share"]
        table.add_row(
            row["strategy"],
            f"{row['warmed']:,}",
            f"{row['sampled']:,}",
            f"{row['read_before_expiry']:,}",
            f"{row['expired_unread']:,}",
            "-" if share is None else f"{share:.0%}",
            row["verdict"],
        )
    out.print(table)
    out.print(
        "of the sampled keys: read = read before they expired, unread = expired unread, "
        "share = read / (read + unread)"
    )
    if data["best_strategy"]:
        out.print(f"best strategy: {data['best_strategy']}")


def print_stats(data: dict[str, Any]) -> None:
    out.print(
        f"cache {data['cache']}: {data['tracked_keys']} keys tracked "
        f"(half-life {data['half_life_s']:g} s)",
        markup=False,
    )
    keys = Table(title="most read keys (decayed reads)")
    keys.add_column("key")
    keys.add_column("score", justify="right")
    for row in data["top_keys"]:
        keys.add_row(row["key"], f"{row['score']:,.1f}")
    out.print(keys)
    print_strategies(data)
    runs = Table(title="recent runs")
    for column in ("kind", "finished (UTC)", "duration s", "batches", "counts"):
        runs.add_column(column, no_wrap=True)
    for run in data["recent_runs"]:
        counts = Kind(run["kind"]).fields
        started = float(run.get("started_at", 0))
        when = _clock(started + float(run.get("duration_s", 0)))
        runs.add_row(
            run["kind"],
            when,
            f"{run['duration_s']:.2f}",
            str(run["batches"]),
            " ".join(f"{c}={run.get(c, 0)}" for c in counts),
        )
    out.print(runs)
    lock = data["refresh_lock"]
    out.print(
        "refresh lock: "
        + (
            "free"
            if lock is None
            else f"held by run {lock['run_id']} for {lock['expires_in_s']:.0f} s more"
        )
    )
    out.print(f"maxmemory-policy: {data['eviction_policy'] or 'unknown'}")
    for warning in data["warnings"]:
        err.print(f"warning: {warning}", markup=False)


def _clock(ts: float) -> str:
    import datetime as dt

    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%m-%d %H:%M:%S")


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
    from .demo import run_demo

    run_demo(redis_url, products, out)


def main() -> NoReturn:
    cli.main(prog_name="warming-tasks")


if __name__ == "__main__":
    main()
