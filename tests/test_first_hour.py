"""A new user's first hour: each early mistake answered at once, in one line, by
the command as a user types it (a subprocess each)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess

from .helpers import Processes, celery_env, cli, process_env
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = pytest.mark.integration


def test_no_worker_is_said_within_seconds_with_the_command_that_starts_one(
    redis_server: RedisProcess, cache: redis.Redis
) -> None:
    env = celery_env(redis_server) | {"CELERY_BROKER_URL": redis_server.url(5)}
    started = time.monotonic()
    done = cli("preload", env=env)
    took = time.monotonic() - started
    assert done.returncode == 1
    assert done.stderr == (
        f"warming-tasks: no worker consumes the queue 'celery' at {redis_server.url(5)}: "
        "start one with `celery -A warming_tasks worker`\n"
    )
    assert took < 20, f"said after {took:.1f} s"
    broker = redis_server.client(5)
    assert broker.llen("celery") == 0, "nothing was enqueued"
    broker.close()


def test_a_worker_started_a_moment_later_is_picked_up(
    redis_server: RedisProcess, cache: redis.Redis, procs: Processes
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "150"})
    env = celery_env(redis_server, WARMING_BATCH_SIZE=100)
    user = subprocess.Popen(
        [sys.executable, "-m", "warming_tasks", "preload", "--json"],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    procs.worker(env)  # the user remembers the worker
    stdout, stderr = user.communicate(timeout=60)
    assert user.returncode == 0, stderr
    assert json.loads(stdout)["loaded"] == 150
    assert cache.get("key:149") == value_for("key:149").encode()


@pytest.fixture(scope="module")
def worker_env(redis_server: RedisProcess, start_worker: object) -> dict[str, str]:
    env = celery_env(
        redis_server, WARMING_BATCH_SIZE=100, WARMING_SOURCE="fixture_sources:BatchOnly"
    )
    start_worker(**{k: v for k, v in env.items() if k.startswith("WARMING_")})  # type: ignore[operator]
    return env


def test_a_batch_only_source_loads_everything_and_a_bad_row_fails_alone(
    worker_env: dict[str, str], cache: redis.Redis
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "250", "failing_keys": "key:113"})
    done = cli("preload", "--json", env=worker_env)
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["failed"]) == (249, 1), done.stderr
    assert summary["errors"] == [
        {"key": "key:113", "reason": "RuntimeError: database row for key:113 is corrupt"}
    ]
    assert cache.get("key:112") == value_for("key:112").encode()
    assert cache.get("key:114") == value_for("key:114").encode()
    assert not cache.exists("key:113")
    assert done.returncode == 3
    assert done.stderr == (
        "warming-tasks: 1 of 250 keys failed; first reason: "
        "RuntimeError: database row for key:113 is corrupt\n"
    )


def test_a_clean_run_exits_0(worker_env: dict[str, str], cache: redis.Redis) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "120"})
    done = cli("preload", env=worker_env)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


def test_version() -> None:
    done = cli("--version", env={"WARMING_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert done.returncode == 0
    assert done.stdout.strip() == f"warming-tasks, version {version('warming-tasks')}"


def test_settings_say_where_each_came_from_and_never_show_a_password(tmp_path: Path) -> None:
    (tmp_path / "celeryconfig.py").write_text('result_backend = "redis://:backend-pw@db:6379/2"\n')
    env = {
        "WARMING_REDIS_URL": "redis://:s3cret@cache.internal:6379/0",
        "WARMING_BATCH_SIZE": "250",
        "CELERY_BROKER_URL": "amqp://guest:broker-pw@rabbit:5672//",
        "PYTHONPATH": str(tmp_path),
    }
    done = cli("settings", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: (row["value"], row["from"]) for row in json.loads(done.stdout)}
    assert rows["WARMING_REDIS_URL"] == ("redis://:***@cache.internal:6379/0", "environment")
    assert rows["WARMING_BATCH_SIZE"] == (250, "environment")
    assert rows["WARMING_FORMAT"] == ("raw", "default")
    assert rows["CELERY_BROKER_URL"] == ("amqp://guest:***@rabbit:5672//", "environment")
    assert rows["CELERY_RESULT_BACKEND"] == ("redis://:***@db:6379/2", "celeryconfig")
    table = cli("settings", env=env, cwd=tmp_path)
    assert table.returncode == 0
    assert "cache.internal" in table.stdout
    for secret in ("s3cret", "broker-pw", "backend-pw"):
        assert secret not in done.stdout + table.stdout + table.stderr
