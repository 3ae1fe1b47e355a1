"""Worker and beat refuse bad settings with one line naming the setting and value."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import process_env

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
# beat never imports the source, so only the worker checks it.
CASES = [("worker", *case) for case in [*BAD, BAD_SOURCE]] + [("beat", *case) for case in BAD]


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
