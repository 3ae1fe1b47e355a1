"""Passwords in WARMING_REDIS_URL, CELERY_BROKER_URL and CELERY_RESULT_BACKEND
never show in worker logs, CLI output (summaries, stats, error lines) or stored results."""

from __future__ import annotations

import json

import pytest
import redis

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.constants import RUNS_KEY

from ..helpers import CONFIG_MODULE, Processes, ServerFactory, cli, warming_lines

pytestmark = [pytest.mark.faults, pytest.mark.integration]

CACHE_PW = "Cache-S3cret-71"
BROKER_PW = "Broker-S3cret-72"
BACKEND_PW = "Backend-S3cret-73"
WRONG_PW = "Wrong-S3cret-74"
SECRETS = (CACHE_PW, BROKER_PW, BACKEND_PW, WRONG_PW)


def locked(servers: ServerFactory, name: str, password: str) -> RedisProcess:
    server = servers(name)
    client = server.client()
    client.config_set("requirepass", password)
    client.close()
    return server


def url(server: RedisProcess, password: str, db: int, user: str = "") -> str:
    return f"redis://{user}:{password}@127.0.0.1:{server.port}/{db}"


def leaks(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


@pytest.mark.timeout(120)
def test_passwords_never_show_in_logs_output_or_results(
    servers: ServerFactory, control: RedisProcess, procs: Processes, ctl: redis.Redis
) -> None:
    """Cache, broker and result backend each behind a password: a preload with failing
    keys, stats, and commands given a wrong password show every URL masked, and no
    password appears in their output, the worker's log, the stored results or the run
    history."""
    cache = locked(servers, "cache", CACHE_PW)
    broker = locked(servers, "broker", BROKER_PW)
    backend = locked(servers, "backend", BACKEND_PW)
    env = {
        "WARMING_REDIS_URL": url(cache, CACHE_PW, 0),
        "CELERY_BROKER_URL": url(broker, BROKER_PW, 1, user="default"),
        "CELERY_RESULT_BACKEND": url(backend, BACKEND_PW, 2),
        "CELERY_CONFIG_MODULE": CONFIG_MODULE,
        # A source with failing keys: the worker logs error lines, the summary has errors.
        "WARMING_SOURCE": "fault_sources:BadEntriesMapping",
        "FAULTS_CONTROL_URL": control.url(0),
    }
    worker = procs.worker(env)
    seen: list[str] = []

    done = cli("preload", "--json", env=env)
    assert done.returncode == 3, done.stderr  # a run with failed keys, said on stderr
    summary = json.loads(done.stdout)
    assert summary["failed"] == 9
    assert len(summary["errors"]) == 9, "error reasons are in the output"
    seen += [done.stdout, done.stderr]
    for args, code in ((["preload"], 3), (["stats"], 0), (["stats", "--json"], 0)):
        done = cli(*args, env=env)
        assert done.returncode == code, done.stderr
        seen += [done.stdout, done.stderr]
    stats = json.loads(done.stdout)
    assert stats["cache"] == f"redis://:***@127.0.0.1:{cache.port}/0"

    # Failures print the URL they could not use: masked, wrong password included.
    failures = [
        (["stats"], "WARMING_REDIS_URL", url(cache, WRONG_PW, 0), "cannot read the cache Redis"),
        (["preload"], "CELERY_BROKER_URL", url(broker, WRONG_PW, 1), "cannot reach the broker"),
    ]
    for args, name, bad, start in failures:
        done = cli(*args, env=env | {name: bad})
        assert done.returncode == 1, (name, done.stdout, done.stderr)
        lines = warming_lines(done.stderr)
        assert len(lines) == 1, (name, done.stderr)
        assert lines[0].startswith(f"warming-tasks: {start}"), lines[0]
        assert "Traceback" not in done.stderr
        seen += [done.stdout, done.stderr]

    log = worker.log()
    assert f"redis://default:**@127.0.0.1:{broker.port}/1" in log, "URLs are logged masked"
    assert "bad:ttl-str" in log, "the failed keys are logged"
    seen.append(log)
    for text in seen:
        assert not leaks(text), f"{leaks(text)} in:\n{text[-2000:]}"

    # Stored results and run history: nothing in them either.
    stored: list[str] = []
    names: list[bytes] = []
    for server, password, db in ((backend, BACKEND_PW, 2), (cache, CACHE_PW, 0)):
        client = redis.Redis(port=server.port, password=password, db=db)
        for key in client.scan_iter(count=1000):
            names.append(key)
            kind = client.type(key)
            if kind == b"string":
                stored.append(repr(client.get(key)))
            elif kind == b"list":
                stored.extend(repr(v) for v in client.lrange(key, 0, -1))
            elif kind == b"hash":
                stored.append(repr(client.hgetall(key)))
        if db == 0:
            assert client.llen(RUNS_KEY) >= 2
        client.close()
    assert any(k.startswith(b"celery-task-meta-") for k in names), "results were stored"
    assert not [s for s in stored if leaks(s)]


@pytest.mark.timeout(60)
def test_a_password_in_the_query_string_is_masked_too(
    servers: ServerFactory, control: RedisProcess
) -> None:
    """A password given as ``?password=`` in WARMING_REDIS_URL: stats authenticates with
    it and never prints it."""
    cache = locked(servers, "cache", CACHE_PW)
    env = {"WARMING_REDIS_URL": f"redis://127.0.0.1:{cache.port}/0?password={CACHE_PW}"}
    done = cli("stats", "--json", env=env)
    assert done.returncode == 0, done.stderr  # redis-py authenticates with it
    assert json.loads(done.stdout)["tracked_keys"] == 0
    assert not leaks(done.stdout + done.stderr), done.stdout


@pytest.mark.timeout(60)
def test_a_result_backend_that_refuses_the_password_gives_one_line(
    servers: ServerFactory,
) -> None:
    """A result backend that refuses the password: preload exits 1 with one line naming
    the backend's URL, masked, and no traceback."""
    server = locked(servers, "redis", BACKEND_PW)
    env = {
        "WARMING_REDIS_URL": url(server, BACKEND_PW, 0),
        "CELERY_BROKER_URL": url(server, BACKEND_PW, 1),
        "CELERY_RESULT_BACKEND": url(server, WRONG_PW, 2),
        "WARMING_SOURCE": "fixture_sources:Catalogue",
    }
    done = cli("preload", "--timeout", "5", env=env)
    assert not leaks(done.stdout + done.stderr)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr[-1500:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("warming-tasks: "), lines[0]
    assert "redis://:***@127.0.0.1" in lines[0], "it names the backend it could not use"
