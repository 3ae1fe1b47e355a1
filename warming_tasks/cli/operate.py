"""The operator's commands: ``check``, ``pause``/``resume``, ``cancel RUN_ID`` and the
Prometheus exporter ``metrics``."""

from __future__ import annotations

import getpass
import socket

import click
import redis

from .. import constants as c
from ..runtime import get_own_store, get_settings
from ..settings import redact_url
from ..store import CacheStore
from .console import EXIT_FAILED, err, fail, out


def _store() -> CacheStore:
    return get_own_store()


def _cache_unreachable(exc: redis.RedisError) -> None:
    fail(f"cannot reach the cache Redis at {redact_url(get_settings().redis_url)}: {exc}")


@click.command()
def check() -> None:
    """Check the cache, the broker, the result backend, the settings and the source.

    Exit 0 when all is well, else 1 with one line per problem on stderr: usable
    as a container health check.
    """
    from ..app import app  # noqa: PLC0415 - the app only for commands that need it
    from ..ops.health import run_checks  # noqa: PLC0415

    checks = run_checks(app)
    for item in checks:
        if item.problem:
            err.print(f"warming-tasks: {item.line}", markup=False)
        else:
            out.print(item.line, markup=False)
    problems = sum(1 for item in checks if item.problem)
    if problems:
        raise click.exceptions.Exit(EXIT_FAILED)


@click.command()
def pause() -> None:
    """Pause warming: runs return skipped, queued batches stand down as cancelled."""
    by = f"{getpass.getuser()}@{socket.gethostname()}"
    try:
        first = _store().pause(by)
    except redis.RedisError as exc:
        _cache_unreachable(exc)
    out.print("warming is paused" if first else "warming was already paused", markup=False)


@click.command()
def resume() -> None:
    """Resume warming after a pause."""
    try:
        was_paused = _store().resume()
    except redis.RedisError as exc:
        _cache_unreachable(exc)
    out.print("warming resumed" if was_paused else "warming was not paused", markup=False)


@click.command()
@click.argument("run_id")
def cancel(run_id: str) -> None:
    """Cancel a run: its remaining batches stand down, and its summary counts their
    keys as cancelled."""
    try:
        said = _store().cancel_run(run_id)
    except redis.RedisError as exc:
        _cache_unreachable(exc)
    if said == "unknown":
        fail(f"no run {run_id} is known to the cache Redis")
    if said == "finished":
        fail(f"run {run_id} has already finished: nothing to cancel")
    if said == "already cancelled":
        fail(f"run {run_id} is already cancelled")
    out.print(f"run {run_id} cancelled: its remaining batches stand down", markup=False)


@click.command()
@click.option(
    "--port",
    type=click.IntRange(min=1, max=65535),
    default=c.METRICS_PORT,
    show_default=True,
    help="Port to serve /metrics on.",
)
@click.option(
    "--host",
    default="0.0.0.0",  # every interface, as exporters do
    show_default=True,
    help="Address to listen on.",
)
def metrics(port: int, host: str) -> None:
    """Serve Prometheus metrics on /metrics, read from the cache Redis at every scrape.

    No login: it shows aggregate counts only, never keys.
    """
    from ..ops.metrics import serve  # noqa: PLC0415 - the exporter only when asked for

    settings = get_settings()
    where = f"http://{host or '0.0.0.0'}:{port}/metrics"
    try:
        serve(
            _store(),
            host,
            port,
            lambda: err.print(
                f"serving {where}, read from {redact_url(settings.redis_url)}", markup=False
            ),
        )
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except KeyboardInterrupt:
        return
