"""The warming-tasks command, run as a user runs it: a process, its output, its exit code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psutil
import pytest
import redis
from celery import Celery

from warming_tasks.cli.embedded import RedisProcess, free_port
from warming_tasks.constants import REFRESH_LOCK_KEY, RUN_KEY_PREFIX
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.tracker import AccessTracker

from .helpers import Starter, celery_env, cli, process_env, record_reads, wait_until
from .support.fixture_sources import CONFIG_KEY, LOADS_KEY, value_for

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def worker(start_worker: Starter) -> Any:
    return start_worker(WARMING_BATCH_SIZE=100)


@pytest.fixture
def env(redis_server: RedisProcess, cache: redis.Redis) -> dict[str, str]:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "500", "unknown_keys": "2"})
    return celery_env(redis_server, WARMING_BATCH_SIZE=100)


def test_preload_prints_the_summary(env: dict[str, str], cache: redis.Redis) -> None:
    done = cli("preload", env=env)
    assert done.returncode == 0, done.stderr
    rows = {
        line.split()[1]: line.split()[3]
        for line in done.stdout.splitlines()
        if line.startswith("│")
    }
    assert rows["loaded"] == "500"
    assert rows["missing"] == "2"
    assert rows["failed"] == "0"
    assert rows["batches"] == "6"
    assert cache.get("key:499") == value_for("key:499").encode()


def test_preload_by_popularity_from_the_command_line(
    env: dict[str, str], cache: redis.Redis
) -> None:
    cache.hset(CONFIG_KEY, "record_loads", "1")
    record_reads(cache, {"key:7": 5})

    def first_keys() -> list[str]:
        loads = [json.loads(call) for call in cache.lrange(LOADS_KEY, 0, -1)]
        cache.delete(LOADS_KEY)
        return sorted(keys[0] for keys in loads)

    done = cli("preload", "--by-popularity", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loaded"] == 500
    assert "key:7" in first_keys(), "key:7 opens a batch: it went first"
    done = cli("preload", "--by-popularity", "--source-order", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert "key:7" not in first_keys(), "the last flag wins, as Click does"


def test_json_output_parses(env: dict[str, str]) -> None:
    done = cli("preload", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (500, 2, 0)


def test_no_wait_returns_a_task_id_that_finishes(env: dict[str, str], client_app: Celery) -> None:
    done = cli("preload", "--no-wait", env=env)
    assert done.returncode == 0, done.stderr
    task_id = done.stdout.strip()
    assert str(uuid.UUID(task_id)) == task_id
    summary = client_app.AsyncResult(task_id).get(timeout=30)
    assert summary["loaded"] == 500


def test_refresh_and_predict(env: dict[str, str], cache: redis.Redis) -> None:
    cache.set("key:7", "stale", ex=60)
    done = cli("refresh", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["checked"], summary["refreshed"], summary["failed"]) == (502, 1, 0)
    assert cache.get("key:7") == value_for("key:7").encode()

    record_reads(cache, {"popular": 9, "liked": 5, "rare": 1})
    done = cli("predict", "--limit", "2", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["candidates"], summary["loaded"]) == (2, 2)
    assert cache.exists("popular", "liked") == 2
    assert not cache.exists("rare")


def test_stats_shows_keys_runs_and_the_lock(env: dict[str, str], cache: redis.Redis) -> None:
    assert cli("preload", "--json", env=env).returncode == 0
    record_reads(cache, {"popular": 9, "rare": 1})
    store = CacheStore(cache)
    done = cli("stats", "--json", env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert [row["key"] for row in data["top_keys"]] == ["popular", "rare"]
    assert data["top_keys"][0]["score"] == pytest.approx(9.0, rel=0.01)
    assert data["recent_runs"][0]["loaded"] == 500
    assert data["refresh_lock"] is None
    store.acquire_lock("run-42")
    done = cli("stats", env=env)
    assert done.returncode == 0, done.stderr
    assert "refresh lock: held by run run-42" in done.stdout
    assert "popular" in done.stdout
    cache.delete(REFRESH_LOCK_KEY)


def test_stats_json_has_the_exact_hit_ratio_and_tables_are_not_cut_in_a_pipe(
    env: dict[str, str], redis_server: RedisProcess
) -> None:
    reads = AccessTracker(load_settings(redis_url=redis_server.url(0)))
    for hit in (True, False, False):
        reads.track("product:1", hit=hit)
    reads.flush()
    reads.close()
    done = cli("stats", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["reads"] == {"hits": 1, "misses": 2, "hit_ratio": 1 / 3}

    prefix = "a-rather-long-application-prefix:" * 3
    # stdout is a pipe here, as under cron or in CI
    done = cli("settings", env=env | {"WARMING_KEY_PREFIX": prefix})
    assert done.returncode == 0, done.stderr
    assert prefix in done.stdout, "nothing cut to fit 80 columns"
    assert "…" not in done.stdout


def test_stats_warns_when_redis_may_evict_the_frequency_set(
    env: dict[str, str], cache: redis.Redis
) -> None:
    cache.config_set("maxmemory-policy", "allkeys-lru")
    try:
        done = cli("stats", env=env)
    finally:
        cache.config_set("maxmemory-policy", "noeviction")
    assert done.returncode == 0, done.stderr
    assert "maxmemory-policy=allkeys-lru" in done.stderr


@pytest.mark.parametrize(
    ("args", "extra", "code", "line"),
    [
        (
            ["preload"],
            {"WARMING_BATCH_SIZE": "0"},
            2,
            "warming-tasks: WARMING_BATCH_SIZE=0 is invalid: input should be greater",
        ),
        (
            ["preload"],
            {"WARMING_SOURCE": "no_such_module:Nope"},
            2,
            "warming-tasks: WARMING_SOURCE=no_such_module:Nope is invalid: module 'no_such_module'",
        ),
        (["warm-everything"], {}, 2, "warming-tasks: No such command 'warm-everything'."),
        (["predict", "--limit", "0"], {}, 2, "warming-tasks: Invalid value for '--limit'"),
        (
            ["preload"],
            {"CELERY_BROKER_URL": "redis://:hunter2@127.0.0.1:{closed}/1"},
            1,
            "warming-tasks: cannot reach the broker at redis://:***@127.0.0.1:{closed}/1",
        ),
        (
            ["stats"],
            {"WARMING_REDIS_URL": "redis://127.0.0.1:{closed}/0"},
            1,
            "warming-tasks: cannot read the cache Redis at redis://127.0.0.1:{closed}/0",
        ),
    ],
)
def test_bad_input_gives_one_line_and_an_exit_code(
    env: dict[str, str], args: list[str], extra: dict[str, str], code: int, line: str
) -> None:
    closed = str(free_port())
    extra = {k: v.format(closed=closed) for k, v in extra.items()}
    done = cli(*args, env=env | extra)
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(line.format(closed=closed))
    assert "Traceback" not in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_a_run_that_outlasts_the_wait_times_out_with_its_task_id(
    env: dict[str, str], cache: redis.Redis
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "100", "batch_sleep": "3"})
    done = cli("preload", "--timeout", "1", env=env)
    assert done.returncode == 1
    assert done.stderr.startswith("warming-tasks: no summary after 1 s; the run goes on")
    assert "task id" in done.stderr


def test_a_run_that_could_not_list_its_keys_exits_1(
    env: dict[str, str], cache: redis.Redis
) -> None:
    cache.hset(CONFIG_KEY, "hot_keys_fail_after", "250")
    done = cli("preload", "--json", env=env)
    assert done.returncode == 1, "cron and CI must see a partial warm as a failure"
    assert json.loads(done.stdout)["loaded"] == 200, "the summary is printed as usual"
    assert done.stderr.startswith("warming-tasks: the run could not list all its keys: ")
    assert "ConnectionResetError" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_run_whose_record_vanished_exits_1_without_waiting_for_the_timeout(
    env: dict[str, str], cache: redis.Redis
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "500", "batch_sleep": "1"})
    run = subprocess.Popen(
        [sys.executable, "-m", "warming_tasks", "preload", "--timeout", "600"],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Once a batch has reported, with more still running: what a restart of the
        # cache Redis without persistence does to the record, mid-run.
        wait_until(
            lambda: any(cache.hget(key, "counted") for key in cache.keys(f"{RUN_KEY_PREFIX}*")),
            30,
            "a batch has reported",
        )
        cache.delete(*cache.keys(f"{RUN_KEY_PREFIX}*"))
        _, stderr = run.communicate(timeout=60)  # far less than its 600 s timeout
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 1
    assert stderr.startswith("warming-tasks: the run's record is gone from the cache Redis")
    assert "will never finish" in stderr
    assert len(stderr.splitlines()) == 1


def test_local_runs_the_tasks_in_this_process_without_broker_or_worker(
    env: dict[str, str], cache: redis.Redis
) -> None:
    nothing = {"CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/1"}
    done = cli("preload", "--local", "--json", env=env | nothing | {"CELERY_RESULT_BACKEND": ""})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["missing"], summary["batches"]) == (500, 2, 6)
    assert cache.get("key:499") == value_for("key:499").encode()

    refused = cli("preload", "--local", "--no-wait", env=env)
    assert refused.returncode == 2
    assert refused.stderr.startswith("warming-tasks: --local runs in this process")


def test_help_reads_well(env: dict[str, str]) -> None:
    done = cli("--help", env=env)
    assert done.returncode == 0
    # The commands as click lists them, not words that the group's docstring contains.
    listing = done.stdout.split("Commands:", 1)[1].splitlines()
    listed = {line.split()[0] for line in listing if line.startswith("  ") and line.strip()}
    assert {"preload", "refresh", "predict", "stats", "demo"} <= listed


def marked_processes(marker: str) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("WARMING_TEST_MARKER") == marker:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_demo_needs_no_services_and_leaves_nothing_behind(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    env = {
        "CELERY_BROKER_URL": "",
        "CELERY_RESULT_BACKEND": "",
        "WARMING_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # closed: must be ignored
        "WARMING_TEST_MARKER": marker,
    }
    started = time.monotonic()
    done = cli("demo", env=env, cwd=tmp_path, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    assert time.monotonic() - started < 60
    assert "loaded     │   500" in done.stdout
    # What Flask-Caching itself read back from the preload, in the demo process.
    assert "cache.get('product:10') returns {'id': 10, 'name': 'Product 10'" in done.stdout
    assert "Stopped the worker." in done.stdout
    assert "Stopped the embedded server." in done.stdout
    assert "Traceback" not in done.stderr
    assert marked_processes(marker) == []


def test_demo_uses_a_given_redis(redis_server: RedisProcess, cache: redis.Redis) -> None:
    done = cli("demo", "--redis-url", redis_server.url(3), "--products", "1000", env={}, timeout=90)
    assert done.returncode == 0, done.stdout + done.stderr
    demo_cache = redis_server.client(3)
    assert demo_cache.exists("warming-demo:product:10")
    assert not demo_cache.exists("product:10"), "demo keys are prefixed"
    demo_cache.flushdb()


def test_demo_is_stopped_cleanly_by_sigterm(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "warming_tasks", "demo"],
        env=process_env({"WARMING_TEST_MARKER": marker}),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Started a Celery worker"):
            break
    proc.terminate()
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert stderr.strip() == "warming-tasks: interrupted"
    assert "Done:" not in stdout
    assert "Stopped the worker." in stdout
    assert "Stopped the embedded server." in stdout
    assert marked_processes(marker) == []


def test_the_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("warming-tasks")
    done = subprocess.run(
        [str(script), "--help"],
        capture_output=True,
        text=True,
        check=False,
        env=os.environ | {"WARMING_REDIS_URL": "redis://127.0.0.1:1/0"},
    )
    assert done.returncode == 0
    assert "Keep a Redis cache warm" in done.stdout
