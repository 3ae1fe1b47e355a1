"""Worker and beat refuse bad settings with one line naming the setting and value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from warming_tasks.cli.embedded import RedisProcess

from .helpers import celery_env, process_env

CLOSED_BROKER = "redis://127.0.0.1:1/1"


def start(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    options = ["-c", "1"] if command == "worker" else []
    return subprocess.run(
        [sys.executable, "-m", "celery", "-A", "warming_tasks", command, *options],
        env=process_env({"CELERY_BROKER_URL": CLOSED_BROKER, **env}),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


BAD = [
    ({"WARMING_BATCH_SIZE": "0"}, "WARMING_BATCH_SIZE=0 is invalid: input should be greater"),
    ({"WARMING_STRATEGY": "sometimes"}, "WARMING_STRATEGY=sometimes is invalid: input should"),
    (
        {"WARMING_REDIS_URL": "http://admin:s3cret@cache:6379/0"},
        "WARMING_REDIS_URL=http://admin:***@cache:6379/0 is invalid: the scheme must be",
    ),
]
BAD_SOURCE = (
    {"WARMING_SOURCE": "no_such_module:Nope"},
    "WARMING_SOURCE=no_such_module:Nope is invalid: module 'no_such_module' cannot be",
)
BAD_CONFIG = (
    {"CELERY_CONFIG_MODULE": "no_such_config"},
    "CELERY_CONFIG_MODULE=no_such_config is invalid: module 'no_such_config' cannot be imported",
)
# beat never imports the source, so only the worker checks it.
CASES = [("worker", *case) for case in [*BAD, BAD_SOURCE, BAD_CONFIG]] + [
    ("beat", *case) for case in [*BAD, BAD_CONFIG]
]


@pytest.mark.parametrize(("command", "env", "line"), CASES)
def test_bad_settings_stop_the_process_with_one_line(
    command: str, env: dict[str, str], line: str, tmp_path: Path
) -> None:
    done = start(command, env, tmp_path)
    assert done.returncode == 2
    errors = [x for x in done.stderr.splitlines() if x.startswith("warming-tasks:")]
    assert len(errors) == 1
    assert errors[0].startswith(f"warming-tasks: {line}")
    assert "Traceback" not in done.stderr + done.stdout
    assert "s3cret" not in done.stderr + done.stdout


@pytest.mark.integration
def test_the_worker_finds_the_projects_source_in_the_directory_it_runs_in(
    tmp_path: Path, redis_server: RedisProcess
) -> None:
    """`celery -A warming_tasks worker` from the project's directory, as the docs say,
    without PYTHONPATH: Celery's own script puts that directory on the path only
    while it imports the app, and the source is imported after."""
    (tmp_path / "shop_source.py").write_text(
        "class Products:\n"
        "    def hot_keys(self):\n"
        "        return ['product:1']\n"
        "    def load_many(self, keys):\n"
        "        return {k: ('v', 60) for k in keys}\n"
    )
    script = Path(sys.executable).with_name("celery")
    env = process_env({**celery_env(redis_server), "WARMING_SOURCE": "shop_source:Products"})
    env.pop("PYTHONPATH", None)
    worker = subprocess.Popen(
        [str(script), "-A", "warming_tasks", "worker", "-P", "solo", "-l", "info"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert worker.stderr is not None
    try:
        seen = []
        for line in worker.stderr:
            seen.append(line)
            if "ready." in line:
                break
        assert worker.poll() is None, "".join(seen)
        assert "ready." in seen[-1]
        assert not [line for line in seen if line.startswith("warming-tasks:")], seen
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        worker.stderr.close()
