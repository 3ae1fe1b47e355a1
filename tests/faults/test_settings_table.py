"""Every WARMING_* setting with a bad value, against the worker and the CLI.

Both must stop with exit code 2 and one line ``warming-tasks: NAME=VALUE is invalid:
...`` (any password masked), no traceback, and the CLI must not have enqueued a run.
The processes of the whole table run side by side (they are independent) so the
table costs about as much as its slowest rows.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from warming_tasks.cli.embedded import RedisProcess

from ..helpers import process_env

pytestmark = pytest.mark.faults

START_TIMEOUT_S = 20.0  # a worker still up by then has accepted the bad value


@dataclass(frozen=True)
class Row:
    name: str
    value: str
    shown: str = ""  # the value as the line must show it, when masked

    @property
    def id(self) -> str:
        return f"{self.name}={self.value}"

    @property
    def line(self) -> str:
        return f"warming-tasks: {self.name}={self.shown or self.value} is invalid: "


TABLE = [
    Row("WARMING_REDIS_URL", "http://cache:6379/0"),
    Row("WARMING_REDIS_URL", "redis://127.0.0.1:notaport/0"),
    Row(
        "WARMING_REDIS_URL",
        "redis://:s3cret@127.0.0.1:notaport/0",
        shown="redis://:***@127.0.0.1:notaport/0",
    ),
    Row("WARMING_REDIS_CLUSTER", "maybe"),
    Row("WARMING_SOURCE", "no-colon"),
    Row("WARMING_SOURCE", "no_such_module:Nope"),
    Row("WARMING_SOURCE", "fault_sources:Nope"),
    Row("WARMING_SOURCE", "fixture_sources:broken_factory"),
    Row("WARMING_STRATEGY", "sometimes"),
    Row("WARMING_REFRESH_INTERVAL", "0"),
    Row("WARMING_REFRESH_INTERVAL", "abc"),
    Row("WARMING_REFRESH_INTERVAL", "inf"),
    Row("WARMING_REFRESH_THRESHOLD", "0"),
    Row("WARMING_REFRESH_THRESHOLD", "1.5"),
    Row("WARMING_BATCH_SIZE", "0"),
    Row("WARMING_BATCH_SIZE", "100001"),
    Row("WARMING_BATCH_SIZE", "ten"),
    Row("WARMING_ENABLE_PREDICTION", "perhaps"),
    Row("WARMING_PRELOAD_BY_POPULARITY", "sometimes"),
    Row("WARMING_PREDICTIVE_LIMIT", "0"),
    Row("WARMING_PREDICTIVE_INTERVAL", "-1"),
    Row("WARMING_PREDICTIVE_INTERVAL", "inf"),
    Row("WARMING_TTL_JITTER", "1"),
    Row("WARMING_TTL_JITTER", "-0.1"),
    Row("WARMING_DECAY_HALF_LIFE", "0"),
    Row("WARMING_DECAY_HALF_LIFE", "sometimes"),
    Row("WARMING_DECAY_HALF_LIFE", "1e-300"),
    Row("WARMING_REFRESH_UNREAD_AFTER", "-1"),
    Row("WARMING_REFRESH_UNREAD_AFTER", "inf"),
    Row("WARMING_TRACKER_MAX_KEYS", "0"),
    Row("WARMING_FLUSH_INTERVAL", "0"),
    Row("WARMING_FLUSH_INTERVAL", "inf"),
    Row("WARMING_MAX_VALUE_BYTES", "0"),
    Row("WARMING_QUEUE", "no spaces allowed"),
    Row("WARMING_SOURCE_RATE", "-5"),
    Row("WARMING_SOURCE_RATE", "nan"),
    Row("WARMING_RUN_STALL_S", "0.5"),
]
# WARMING_KEY_PREFIX takes any string: it has no invalid value.


@dataclass(frozen=True)
class Outcome:
    code: int | None  # None: still running after START_TIMEOUT_S
    stdout: str
    stderr: str
    enqueued: int = 0


def _run(command: list[str], env: dict[str, str], cwd: Path) -> Outcome:
    proc = subprocess.Popen(
        command,
        env=process_env(env),
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, stderr = proc.communicate()
        return Outcome(None, stdout, stderr)
    return Outcome(proc.returncode, stdout, stderr)


def _env(server: RedisProcess, db: int, row: Row) -> dict[str, str]:
    return {
        "WARMING_REDIS_URL": server.url(0),
        "CELERY_BROKER_URL": server.url(db),
        "CELERY_RESULT_BACKEND": server.url(db),
        "WARMING_SOURCE": "fixture_sources:Catalogue",
        row.name: row.value,
    }


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    """Run the worker and the CLI for every row at once; their outcomes by row and side."""
    server = RedisProcess(
        data_dir=tmp_path_factory.mktemp("settings-redis"),
        extra_args=["--save", "", "--appendonly", "no", "--databases", str(len(TABLE) + 2)],
    ).start()
    cwd = tmp_path_factory.mktemp("settings-cwd")
    workers: dict[str, Future[Outcome]] = {}
    clis: dict[str, tuple[Future[Outcome], int]] = {}
    with ThreadPoolExecutor(max_workers=6) as pool:
        for db, row in enumerate(TABLE, start=1):
            env = _env(server, db, row)
            worker = [sys.executable, "-m", "celery", "-A", "warming_tasks", "worker"]
            worker += ["-c", "1", "--without-mingle", "--without-gossip", "-n", f"w{db}@%h"]
            cli = [sys.executable, "-m", "warming_tasks", "preload", "--timeout", "2"]
            workers[f"worker {row.id}"] = pool.submit(_run, worker, env, cwd)
            clis[f"cli {row.id}"] = (pool.submit(_run, cli, env, cwd), db)
        results = {key: future.result() for key, future in workers.items()}
        for key, (future, db) in clis.items():
            done = future.result()
            enqueued = int(server.client(db).llen("celery"))
            results[key] = Outcome(done.code, done.stdout, done.stderr, enqueued)
    yield results
    server.close()


def _params() -> list[object]:
    params: list[object] = []
    for row in TABLE:
        for side in ("worker", "cli"):
            params.append(pytest.param(side, row, id=f"{side}-{row.id}"))
    return params


@pytest.mark.timeout(240)
@pytest.mark.parametrize(("side", "row"), _params())
def test_a_bad_setting_stops_with_one_line_and_exit_2(
    outcomes: dict[str, Outcome], side: str, row: Row
) -> None:
    """A worker, or the CLI's preload, started with one bad WARMING_* value exits 2 with
    one line naming the setting and the value (a password masked), no traceback, and no
    run enqueued."""
    done = outcomes[f"{side} {row.id}"]
    output = done.stdout + done.stderr
    assert done.code is not None, f"still running {START_TIMEOUT_S:g} s later:\n{output[-1500:]}"
    assert "Traceback" not in output, output[-3000:]
    assert done.code == 2, output[-1500:]
    ours = [line for line in done.stderr.splitlines() if line.startswith("warming-tasks:")]
    assert len(ours) == 1, done.stderr
    assert ours[0].startswith(row.line), ours[0]
    assert len(ours[0]) < 300
    assert "s3cret" not in output
    assert done.enqueued == 0, "a run was enqueued before the bad setting was noticed"
