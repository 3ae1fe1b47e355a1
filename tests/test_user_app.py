"""The tasks inside a user's own Celery app: names, beat entries, routing, start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import redis
from celery import Celery

from warming_tasks.cli.embedded import RedisProcess

from .helpers import SUPPORT, CeleryProcess, celery_env, process_env, wait_until
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = pytest.mark.integration

USER_APP = textwrap.dedent(
    """
    import os

    from celery import Celery

    from warming_tasks import add_beat_entries

    app = Celery("userapp", include=["warming_tasks.tasks"])
    app.conf.update(
        broker_url=os.environ["USER_BROKER"],
        result_backend=os.environ["USER_BACKEND"],
        accept_content=["json"],
        task_serializer="json",
        result_serializer="json",
        beat_schedule={"user-heartbeat": {"task": "userapp.heartbeat", "schedule": 1.0}},
    )
    add_beat_entries(app)


    @app.task(name="userapp.heartbeat")
    def heartbeat():
        return "alive"
    """
)


@pytest.fixture(scope="module")
def user_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("userapp")
    (path / "userapp.py").write_text(USER_APP)
    return path


def user_env(server: RedisProcess, user_dir: Path, **extra: object) -> dict[str, str]:
    env = celery_env(server, **extra)
    # The user's app names its broker itself; Celery's env vars are not set.
    env |= {
        "USER_BROKER": env.pop("CELERY_BROKER_URL"),
        "USER_BACKEND": env.pop("CELERY_RESULT_BACKEND"),
        "PYTHONPATH": os.pathsep.join([str(user_dir), str(SUPPORT)]),
    }
    return env


def start(command: list[str], env: dict[str, str], workdir: Path) -> CeleryProcess:
    return CeleryProcess(command, env, workdir, app="userapp")


def test_the_user_app_runs_warming_tasks_and_keeps_its_own_beat_entries(
    redis_server: RedisProcess, cache: redis.Redis, client_app: Celery, user_dir: Path
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "300"})
    cache.set("key:1", "stale", ex=100)
    env = user_env(redis_server, user_dir, WARMING_REFRESH_INTERVAL=1)
    worker = start(
        ["worker", "-c", "2", "-l", "info", "--without-mingle", "--without-gossip"], env, user_dir
    ).start()
    beat = start(["beat", "-l", "info", "-s", str(user_dir / "schedule")], env, user_dir)
    try:
        registered = client_app.control.inspect(timeout=5).registered() or {}
        names = {name for tasks in registered.values() for name in tasks}
        assert {
            "warming_tasks.preload",
            "warming_tasks.refresh",
            "warming_tasks.predictive_load",
            "userapp.heartbeat",
        } <= names
        summary = client_app.send_task("warming_tasks.preload").get(timeout=30)
        assert summary["loaded"] == 300
        cache.expire("key:1", 100)  # due again for the scheduled refresh
        cache.set("key:1", "stale", ex=100)
        beat.start(wait_for="beat: Starting...")
        wait_until(lambda: cache.get("key:1") != b"stale", 20, "beat runs our refresh")
        assert cache.get("key:1") == value_for("key:1").encode(), "beat ran our refresh"
        beat.wait_for("Sending due task user-heartbeat (userapp.heartbeat)", timeout=10)
        assert "warming-tasks: refresh (warming_tasks.refresh)" in beat.log()
    finally:
        beat.stop()
        worker.stop()


def test_warming_queue_routes_every_task_to_its_own_queue(
    redis_server: RedisProcess, cache: redis.Redis, client_app: Celery, user_dir: Path
) -> None:
    cache.hset(CONFIG_KEY, mapping={"hot_keys": "250"})
    env = user_env(redis_server, user_dir, WARMING_QUEUE="warming", WARMING_BATCH_SIZE=100)
    # This worker consumes only the warming queue: batches sent elsewhere would never run.
    worker = start(
        [
            "worker",
            "-Q",
            "warming",
            "-c",
            "2",
            "-l",
            "info",
            "--without-mingle",
            "--without-gossip",
        ],
        env,
        user_dir,
    ).start()
    try:
        summary = client_app.send_task("warming_tasks.preload", queue="warming").get(timeout=30)
        assert (summary["loaded"], summary["batches"]) == (250, 3)
        assert cache.get("key:249") == value_for("key:249").encode()
    finally:
        worker.stop()


def test_a_user_worker_with_bad_settings_refuses_to_start(
    redis_server: RedisProcess, user_dir: Path
) -> None:
    env = user_env(redis_server, user_dir, WARMING_BATCH_SIZE="0")
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "userapp", "worker", "-c", "1"],
        env=process_env(env),
        cwd=user_dir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    lines = [x for x in done.stderr.splitlines() if x.startswith("warming-tasks:")]
    assert lines == [
        "warming-tasks: WARMING_BATCH_SIZE=0 is invalid: input should be greater than or equal to 1"
    ]
    assert "Traceback" not in done.stderr
