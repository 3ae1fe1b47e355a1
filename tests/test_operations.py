"""Operating the suite as an ops team does: a Prometheus scrape, the health check,
pause and resume, cancelling a run, the source budget across workers, and a run
that always reports (closed as stalled when a batch message is lost).

Real servers and real worker and beat processes throughout; the scrape is real
HTTP, parsed with prometheus_client's own parser."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from warming_tasks.cli.embedded import free_port
from warming_tasks.ops.metrics import OUTCOMES
from warming_tasks.store import CacheStore

from .helpers import Processes, Stack, await_summary, cli, count_cached, process_env, wait_until
from .support.fault_sources import CALLS_KEY, GATE_KEY

pytestmark = pytest.mark.integration

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@contextlib.contextmanager
def exporter(env: dict[str, str]) -> Iterator[str]:
    """``warming-tasks metrics`` on a free loopback port: its /metrics URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "warming_tasks",
            "metrics",
            "--port",
            str(port),
            "--host",
            "127.0.0.1",
        ],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        wait_until(lambda: _answers(url) or proc.poll() is not None, 20, "the exporter to answer")
        assert proc.poll() is None, proc.communicate()[0]
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


def scrape(url: str) -> Samples:
    """Every sample of one scrape, parsed by prometheus_client: (name, labels) -> value."""
    with urllib.request.urlopen(url, timeout=5) as reply:
        body = reply.read().decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def calls(ctl: redis.Redis) -> list[dict[str, Any]]:
    """Every load_many call the source answered: its keys, pid and times."""
    return [json.loads(row) for row in ctl.lrange(CALLS_KEY, 0, -1)]


def test_one_scrape_counts_the_keys_every_worker_warmed(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    env = stack.env(FAULTS_KEYS=3000, FAULTS_SLEEP=0.05, WARMING_BATCH_SIZE=100)
    workers = [procs.worker(env, concurrency=1) for _ in range(2)]
    summary = await_summary(
        stack.caller().send_task("warming_tasks.preload"), 120, stack.cache_client(), *workers
    )
    assert summary["loaded"] == 3000
    assert len({call["pid"] for call in calls(ctl)}) == 2, "both workers warmed keys"
    with exporter(env) as url:
        samples = scrape(url)
    warmed = samples[("warming_keys_warmed_total", (("strategy", "preload"),))]
    assert warmed == summary["loaded"]
    assert samples[("warming_keys_failed_total", (("strategy", "preload"),))] == 0
    ran = (("kind", "preload"), ("outcome", "ok"), ("source", "all"))
    assert samples[("warming_runs_total", ran)] == 1
    preload = (("kind", "preload"), ("source", "all"))
    finished = samples[("warming_last_run_finished_timestamp_seconds", preload)]
    assert finished == pytest.approx(summary["started_at"] + summary["duration_s"], abs=0.01)
    assert time.time() - 120 < finished <= time.time()
    succeeded = samples[("warming_last_success_timestamp_seconds", preload)]
    assert succeeded == finished, "an ok run is the last success too"
    duration = samples[("warming_run_duration_seconds", preload)]
    assert duration == pytest.approx(summary["duration_s"], abs=0.01)
    assert samples[("warming_paused", ())] == 0
    assert samples[("warming_cache_up", ())] == 1
    labels = {value for _, pairs in samples for _, value in pairs}
    kinds_and_outcomes = {"preload", "refresh", "predictive", "copy", "all", *OUTCOMES}
    assert labels <= kinds_and_outcomes, "no label carries a key"


def test_a_scrape_with_the_cache_down_says_so_and_nothing_else(stack: Stack) -> None:
    env = stack.env(WARMING_REDIS_URL=f"redis://:sekret@127.0.0.1:{free_port()}/0")
    with exporter(env) as url:
        samples = scrape(url)
    assert samples == {("warming_cache_up", ()): 0}


def test_check_passes_on_a_healthy_stack_and_names_the_broker_when_it_is_down(
    stack: Stack,
) -> None:
    env = stack.env()
    healthy = cli("check", env=env)
    assert healthy.returncode == 0, healthy.stderr
    assert healthy.stderr == ""
    lines = healthy.stdout.splitlines()
    assert [line.split(":", 1)[0].split()[0] for line in lines] == [
        "settings",
        "cache",
        "eviction",
        "format",
        "source",
        "source",  # its TTLs
        "broker",
        "result",
    ]
    assert all(line.endswith(": ok") for line in lines)

    down = cli(
        "check", env=env | {"CELERY_BROKER_URL": f"redis://:sekret@127.0.0.1:{free_port()}/1"}
    )
    assert down.returncode == 1
    problems = down.stderr.splitlines()
    assert len(problems) == 1, down.stderr
    assert problems[0].startswith("warming-tasks: broker redis://:***@127.0.0.1:")
    assert "unreachable" in problems[0]
    assert "sekret" not in down.stdout + down.stderr


def test_check_says_when_the_source_ttls_would_make_every_refresh_reload_every_key(
    stack: Stack,
) -> None:
    done = cli("check", env=stack.env(FAULTS_TTL=300))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "warming-tasks: source TTLs: 5 of 5 sampled keys have a TTL of 300 s, at or below "
        "WARMING_REFRESH_THRESHOLD=300: every refresh would reload them; lower the "
        "threshold below the TTLs"
    ]
    assert cli("check", env=stack.env(FAULTS_TTL=300, WARMING_REFRESH_THRESHOLD=60)).returncode == 0


def test_check_names_each_problem_on_a_line_of_its_own(stack: Stack) -> None:
    env = stack.env(
        source="no_such_module:Source",
        WARMING_REDIS_URL=f"redis://:sekret@127.0.0.1:{free_port()}/0",
    )
    done = cli("check", env=env)
    assert done.returncode == 1
    problems = [line.split(":", 2)[1].strip() for line in done.stderr.splitlines()]
    assert [p.split()[0] for p in problems] == ["cache", "source"], done.stderr
    assert "sekret" not in done.stdout + done.stderr


def test_a_paused_suite_skips_runs_and_beat_ticks_until_resumed(
    stack: Stack, procs: Processes
) -> None:
    env = stack.env(FAULTS_KEYS=500, WARMING_REFRESH_INTERVAL=0.5)
    procs.worker(env)
    paused = cli("pause", env=env)
    assert (paused.returncode, paused.stdout.strip()) == (0, "warming is paused")
    assert cli("pause", env=env).stdout.strip() == "warming was already paused"
    shown = cli("stats", env=env)
    assert "warming is PAUSED since" in shown.stdout, shown.stdout
    skipped = cli("preload", "--json", env=env)
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["skipped"] == "warming is paused"
    store = CacheStore(stack.cache_client())
    procs.beat(env)
    wait_until(
        lambda: store.run_totals().get("runs:refresh:skipped", 0) >= 2, 30, "beat's ticks skipped"
    )
    assert count_cached(stack.cache_client(), [f"key:{i}" for i in range(500)]) == 0

    resumed = cli("resume", env=env)
    assert (resumed.returncode, resumed.stdout.strip()) == (0, "warming resumed")
    assert json.loads(cli("stats", "--json", env=env).stdout)["paused"] is None
    done = cli("preload", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loaded"] == 500
    assert count_cached(stack.cache_client(), [f"key:{i}" for i in range(500)]) == 500


@pytest.mark.parametrize("how", ["cancel", "pause"])
def test_a_run_stood_down_mid_way_still_reports_what_it_did_not_warm(
    how: str, stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    keys = 1000
    env = stack.env(FAULTS_KEYS=keys, FAULTS_SLEEP=0.2, WARMING_BATCH_SIZE=25)
    worker = procs.worker(env)
    result = stack.caller().send_task("warming_tasks.preload")
    store = CacheStore(stack.cache_client())
    wait_until(
        lambda: int(store.run_state(result.id).get("batches_done", 0)) >= 2, 30, "two batches"
    )
    said = cli(how, *([result.id] if how == "cancel" else []), env=env)
    assert said.returncode == 0, said.stderr
    summary = await_summary(result, 60, stack.cache_client(), worker)
    assert summary["cancelled"] > 0
    counted = summary["loaded"] + summary["missing"] + summary["failed"] + summary["cancelled"]
    assert counted == keys
    assert sum(len(call["keys"]) for call in calls(ctl)) == summary["loaded"] < keys
    assert (
        count_cached(stack.cache_client(), [f"key:{i}" for i in range(keys)]) == summary["loaded"]
    )
    if how == "cancel":
        again = cli("cancel", result.id, env=env)
        assert again.returncode == 1
        assert again.stderr.strip() == (
            f"warming-tasks: run {result.id} has already finished: nothing to cancel"
        )
        unknown = cli("cancel", "no-such-run", env=env)
        assert unknown.returncode == 1
        assert "no run no-such-run is known" in unknown.stderr


def test_the_source_budget_holds_across_two_worker_processes(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    env = stack.env(FAULTS_KEYS=1000, WARMING_BATCH_SIZE=100, WARMING_SOURCE_RATE=200)
    workers = [procs.worker(env, concurrency=1) for _ in range(2)]
    asked = time.time()
    summary = await_summary(
        stack.caller().send_task("warming_tasks.preload"), 60, stack.cache_client(), *workers
    )
    assert summary["loaded"] == 1000
    assert count_cached(stack.cache_client(), [f"key:{i}" for i in range(1000)]) == 1000
    made = calls(ctl)
    assert len({call["pid"] for call in made}) == 2, "both workers loaded"
    assert sorted(len(call["keys"]) for call in made) == [100] * 10
    # The budget is shared: the batch that reaches the source k-th does so no sooner
    # than k x 100 keys at 200/s after the run was asked for, whichever worker runs
    # it. Lower bounds only: a loaded machine makes a batch late, never early. Two
    # budgets (one a worker) would let two batches in at each turn; none, all at once.
    # The slack: the budget's microsecond rounding (Redis' clock is this host's).
    starts = sorted(call["t0"] for call in made)
    early = [
        (k, round(t0 - asked, 3)) for k, t0 in enumerate(starts) if t0 < asked + k * 0.5 - 0.001
    ]
    assert not early, f"batches in before their turn (k, seconds after asking): {early}"


def test_a_run_whose_batch_message_was_lost_is_closed_as_stalled(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    keys = 40
    env = stack.env(
        FAULTS_KEYS=keys, FAULTS_GATE_AFTER=20, WARMING_BATCH_SIZE=1, WARMING_RUN_STALL_S=2
    )
    # One process: while it lists the keys, the batches it sent wait in the queue.
    worker = procs.worker(env, concurrency=1)
    procs.beat(env)
    run = subprocess.Popen(
        [sys.executable, "-m", "warming_tasks", "preload"],
        env=process_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    broker = stack.broker.client(1)
    queued = wait_until(lambda: broker.lrange("celery", 0, -1), 30, "the first window queued")
    lost = next(m for m in queued if b"batch=3," in m)
    assert broker.lrem("celery", 1, lost) == 1
    ctl.set(GATE_KEY, 1)
    out, err = run.communicate(timeout=60)
    assert run.returncode == 1, out + err
    assert err.strip().endswith(f"closed: 1 of {keys} batches never reported (lost)"), err
    cache = stack.cache_client()
    summary = CacheStore(cache).recent_runs(1)[0]
    assert (summary["loaded"], summary["lost"], summary["stalled"]) == (keys - 1, 1, True)
    assert cache.get("key:3") is None

    # The lost message turns up after all: it stands down and is counted nowhere.
    broker.lpush("celery", lost)
    task_id = json.loads(lost)["headers"]["id"]
    worker.wait_for(f"Task warming_tasks.preload_batch[{task_id}] succeeded", timeout=30)
    assert cache.get("key:3") is None
    assert CacheStore(cache).recent_runs(5) == [summary]


def test_a_batch_waiting_for_the_source_budget_stands_down_when_paused(
    stack: Stack, procs: Processes, ctl: redis.Redis
) -> None:
    """Two batches in flight, the second waiting 2.5 s for its budget: a pause
    during that wait keeps it off the source when its turn comes."""
    keys = 100
    env = stack.env(FAULTS_KEYS=keys, WARMING_BATCH_SIZE=25, WARMING_SOURCE_RATE=10)
    worker = procs.worker(env)
    result = stack.caller().send_task("warming_tasks.preload")
    wait_until(lambda: len(calls(ctl)) >= 1, 30, "the first batch to call the source")
    paused = cli("pause", env=env)
    assert paused.returncode == 0, paused.stderr
    summary = await_summary(result, 60, stack.cache_client(), worker)
    assert summary["loaded"] == sum(len(call["keys"]) for call in calls(ctl)) == 25
    assert summary["cancelled"] == keys - 25
    assert count_cached(stack.cache_client(), [f"key:{i}" for i in range(keys)]) == 25
    assert cli("resume", env=env).returncode == 0


def test_a_worker_without_a_source_says_so_at_start(stack: Stack, procs: Processes) -> None:
    env = stack.env()
    del env["WARMING_SOURCE"]
    worker = procs.worker(env)
    worker.wait_for("WARMING_SOURCE is not set: every warming run this worker takes will fail")
    line = next(x for x in worker.log().splitlines() if "WARMING_SOURCE is not set" in x)
    assert "WARNING" in line


def test_the_first_failure_of_the_source_is_logged_with_its_traceback(
    stack: Stack, procs: Processes
) -> None:
    env = stack.env(FAULTS_KEYS=20, FAULTS_RAISING="key:3")
    worker = procs.worker(env, concurrency=1)
    summary = await_summary(
        stack.caller().send_task("warming_tasks.preload"), 30, stack.cache_client(), worker
    )
    assert (summary["loaded"], summary["failed"]) == (19, 1)
    log = worker.log()
    assert "the source: load_many of a batch of 20 keys failed" in log
    assert "Traceback (most recent call last)" in log
    assert 'raise RuntimeError("a row of this batch is corrupt")' in log, "the source's own line"


def test_stats_warns_when_every_refresh_reloads_every_key(stack: Stack, procs: Processes) -> None:
    env = stack.env(FAULTS_KEYS=20, FAULTS_TTL=120)  # under the 300 s threshold
    procs.worker(env)
    caller, cache = stack.caller(), stack.cache_client()
    assert await_summary(caller.send_task("warming_tasks.preload"), 30, cache)["loaded"] == 20
    summary = await_summary(caller.send_task("warming_tasks.refresh"), 30, cache)
    assert (summary["checked"], summary["refreshed"]) == (20, 20)
    done = cli("stats", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["warnings"] == [
        "the last refresh found 20 of 20 cached keys due: the source's TTLs look at or below "
        "WARMING_REFRESH_THRESHOLD=300, so every refresh reloads every key "
        "(`warming-tasks check` samples them)"
    ]
