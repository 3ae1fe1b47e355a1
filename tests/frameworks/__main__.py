"""python -m tests.frameworks [--only NAME] [--keep DIR]: see this package's docstring."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path

from warming_tasks.cli.embedded import RedisProcess, free_port

HERE = Path(__file__).resolve().parent
BACKENDS = ("theirs", "ours")
# A test whose outcome differs is run again on both backends this many times: a
# difference that does not repeat is a flaky test of the framework's, reported.
RERUNS = 2

SHOWN = 5  # of the tests that fail on both backends, printed; the rest are in a file

Outcomes = dict[str, str]


@dataclass
class Servers:
    redis: RedisProcess  # the suites' cache
    socket: Path
    sentinel: RedisProcess
    # Where warming-tasks' trackers count (WARMING_REDIS_URL), a database per suite
    # part: every count lands on a server the runner started, whatever a backend's
    # configuration would guess (a Sentinel service name is no host), and the counts
    # of each part can be checked.
    counts: RedisProcess

    @property
    def sentinel_port(self) -> int:
        return self.sentinel.port

    def close(self) -> None:
        for server in (self.sentinel, self.counts, self.redis):
            server.close()

    def clean(self) -> None:
        """Each run starts on empty servers (ours: the runner started them)."""
        for server in (self.redis, self.counts):
            server.client().flushall()

    def counted_keys(self, db: int) -> int:
        """The keys warming-tasks' trackers wrote for the suite part counting in ``db``."""
        client = self.counts.client(db)
        try:
            return sum(1 for _ in client.scan_iter(match="*{warming}:*"))
        finally:
            client.close()


@dataclass
class Suite:
    name: str
    distribution: str
    # Runs the suite (or the given tests only) on one backend; returns each test's outcome.
    run: Callable[[Path, Servers, str, list[str] | None, Path], Outcomes]
    # The parts of the suite that run in processes of their own, each counting into
    # the database of its position on the counts server.
    parts: Callable[[Path], list[str]]
    # The folder of the unpacked sdist that the suite needs.
    members: str
    prepare: Callable[[Path, Servers], None] = lambda root, servers: None


@dataclass
class Report:
    suite: Suite
    version: str
    outcomes: dict[str, Outcomes] = field(default_factory=dict)
    # Per backend, the count keys each part of the suite left (its name: its count).
    counted: dict[str, dict[str, int]] = field(default_factory=dict)
    differing: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    flaky: list[str] = field(default_factory=list)
    seconds: float = 0.0


def environment(
    servers: Servers, backend: str, outcomes: Path, counts_db: int = 0, **extra: str
) -> dict[str, str]:
    # The suites run as a user's would: no WARMING_* of this shell leaks in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("WARMING_")}
    env["WARMING_REDIS_URL"] = servers.counts.url(counts_db)
    path = [str(HERE), str(HERE.parents[1]), env.get("PYTHONPATH", "")]
    return env | {
        "PYTHONPATH": os.pathsep.join(p for p in path if p),
        "FRAMEWORK_SUITE_BACKEND": backend,
        "FRAMEWORK_SUITE_OUTCOMES": str(outcomes),
        # No database in the URL: Django's suite sets one in OPTIONS, which a URL's overrides.
        "FRAMEWORK_SUITE_REDIS_URL": f"redis://127.0.0.1:{servers.redis.port}",
        "CI": "true",  # Flask-Caching's fixtures fail, not skip, without their server
        **extra,
    }


def read_outcomes(path: Path, log: Path, done: subprocess.CompletedProcess[bytes]) -> Outcomes:
    if not path.exists():
        raise SystemExit(
            f"the suite recorded no outcomes (exit {done.returncode}); its output is in {log}"
        )
    found: Outcomes = json.loads(path.read_text())
    return found


def run_logged(
    cmd: list[str], cwd: Path, env: dict[str, str], log: Path
) -> subprocess.CompletedProcess[bytes]:
    with log.open("wb") as out:
        return subprocess.run(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        )


def run_django(
    root: Path, servers: Servers, backend: str, only: list[str] | None, work: Path
) -> Outcomes:
    outcomes, log = work / f"django-{backend}.json", work / f"django-{backend}.log"
    outcomes.unlink(missing_ok=True)
    labels = only or ["cache.tests.RedisCacheTests"]
    cmd = [sys.executable, "runtests.py", "--settings", "django_suite_settings"]
    cmd += ["--parallel", "1", "--noinput", *labels]
    done = run_logged(cmd, root / "tests", environment(servers, backend, outcomes), log)
    return read_outcomes(outcomes, log, done)


def pytest_command(only: list[str] | None) -> list[str]:
    # The suite's own pytest configuration, without its coverage and xdist options
    # (the runner chooses the processes) and with the outcome recorder.
    return [
        sys.executable, "-m", "pytest", "-o", "addopts=", "-p", "suite_plugin",
        "-q", *(only or ["tests"]),
        # Flask-Caching turns warnings into errors, pytest-asyncio's about this one too.
        "-o", "asyncio_default_fixture_loop_scope=function",
    ]  # fmt: skip


DJANGO_REDIS_SETTINGS = re.compile(r"^(sqlite\w*)\.py$")


def django_redis_settings(root: Path) -> list[str]:
    """django-redis' settings modules: its suite runs once under each."""
    folder = root / "tests" / "settings"
    return sorted(m[1] for p in folder.iterdir() if (m := DJANGO_REDIS_SETTINGS.match(p.name)))


def run_django_redis(
    root: Path, servers: Servers, backend: str, only: list[str] | None, work: Path
) -> Outcomes:
    names = django_redis_settings(root)

    def one(name: str) -> Outcomes:
        outcomes = work / f"django-redis-{backend}-{name}.json"
        log = work / f"django-redis-{backend}-{name}.log"
        outcomes.unlink(missing_ok=True)
        wanted = None
        if only is not None:
            wanted = [t for t in only if f"[{name}]" in t or ("[" not in t and name == "sqlite")]
            if not wanted:
                return {}
        env = environment(
            servers,
            backend,
            outcomes,
            names.index(name),
            FRAMEWORK_SUITE="django-redis",
            FRAMEWORK_SUITE_SETTINGS=name,
            FRAMEWORK_SUITE_UNPARAMETRIZED="1" if name == "sqlite" else "0",
        )
        cmd = [*pytest_command(wanted), "-o", "pythonpath=tests"]
        return read_outcomes(outcomes, log, run_logged(cmd, root, env, log))

    # One process per settings module, all at once: the tests mostly sleep, and each
    # settings module has a database of its own.
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        found: Outcomes = {}
        for part in pool.map(one, names):
            found |= part
    return found


def prepare_django_redis(root: Path, servers: Servers) -> None:
    port, sentinel = servers.redis.port, servers.sentinel_port
    for path in (root / "tests" / "settings").glob("*.py"):
        text = path.read_text()
        text = text.replace("127.0.0.1:6379", f"127.0.0.1:{port}")
        text = text.replace('("127.0.0.1", 26379)', f'("127.0.0.1", {sentinel})')
        text = text.replace("/tmp/redis.sock", str(servers.socket))
        path.write_text(text)


def run_flask(
    root: Path, servers: Servers, backend: str, only: list[str] | None, work: Path
) -> Outcomes:
    outcomes, log = work / f"flask-{backend}.json", work / f"flask-{backend}.log"
    outcomes.unlink(missing_ok=True)
    env = environment(servers, backend, outcomes, FRAMEWORK_SUITE="flask")
    return read_outcomes(outcomes, log, run_logged(pytest_command(only), root, env, log))


def prepare_flask(root: Path, servers: Servers) -> None:
    for path in (root / "tests").glob("*.py"):
        text = path.read_text()
        path.write_text(re.sub(r"\b6360\b", str(servers.redis.port), text))


def whole(root: Path) -> list[str]:
    return ["all"]


SUITES = [
    Suite("django", "django", run_django, whole, "tests/"),
    Suite(
        "django-redis",
        "django-redis",
        run_django_redis,
        django_redis_settings,
        "tests/",
        prepare_django_redis,
    ),
    Suite("flask-caching", "flask-caching", run_flask, whole, "tests/", prepare_flask),
]


def download(distribution: str, release: str, into: Path) -> Path:
    """The sdist of ``distribution`` at ``release``, from the package index pip uses."""
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
    cmd += ["-d", str(into), f"{distribution}=={release}"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = [
        p
        for p in into.glob("*.tar.gz")
        if p.name.lower().replace("_", "-").startswith(f"{distribution}-{release}")
    ]
    if done.returncode != 0 or not found:
        raise SystemExit(
            f"could not download the sdist of {distribution}=={release}: "
            f"{done.stderr.strip()[-300:]}"
        )
    return found[0]


def unpack(sdist: Path, members: str, into: Path) -> Path:
    with tarfile.open(sdist) as tar:
        top = tar.getnames()[0].split("/")[0]
        wanted = [
            m
            for m in tar.getmembers()
            if m.name.startswith(f"{top}/{members}") or (m.name.count("/") <= 1 and m.isfile())
        ]
        tar.extractall(into, members=wanted, filter="data")
    return into / top


def start_servers(work: Path) -> Servers:
    socket = work / "redis.sock"
    args = [
        "--save",
        "",
        "--appendonly",
        "no",
        "--unixsocket",
        str(socket),
        "--unixsocketperm",
        "700",
    ]
    # django-redis' suite calls DEBUG (its CI's server runs with this too).
    redis = RedisProcess(
        data_dir=work / "redis", extra_args=[*args, "--enable-debug-command", "yes"]
    ).start()
    sentinel_port = free_port(avoid=frozenset({redis.port}))  # the counts server takes its own
    conf = work / "sentinel.conf"
    # django-redis' docker/sentinel.conf, pointed at our server; its sqlite_sentinel
    # settings name the service "127.0.0.1", which that file does not monitor.
    lines = [f"port {sentinel_port}", "bind 127.0.0.1"]
    for service in ("default_service", "127.0.0.1"):
        lines += [
            f"sentinel monitor {service} 127.0.0.1 {redis.port} 1",
            f"sentinel down-after-milliseconds {service} 3200",
            f"sentinel failover-timeout {service} 10000",
            f"sentinel parallel-syncs {service} 1",
        ]
    conf.write_text("\n".join(lines) + "\n")
    sentinel = RedisProcess(
        port=sentinel_port, data_dir=work / "sentinel", binary=redis.binary, config=conf,
        extra_args=["--sentinel"],
    ).start()  # fmt: skip
    counts = RedisProcess(data_dir=work / "counts", extra_args=["--save", "", "--appendonly", "no"])
    return Servers(redis, socket, sentinel, counts.start())


def differences(theirs: Outcomes, ours: Outcomes) -> dict[str, dict[str, list[str]]]:
    """Tests whose outcome differs: ``{test: {"theirs": [...], "ours": [...]}}``."""
    return {
        test: {"theirs": [theirs.get(test, "not run")], "ours": [ours.get(test, "not run")]}
        for test in sorted(set(theirs) | set(ours))
        if theirs.get(test, "not run") != ours.get(test, "not run")
    }


def run_suite(suite: Suite, servers: Servers, work: Path) -> Report:
    started = time.monotonic()
    report = Report(suite, version(suite.distribution))
    sdist = download(suite.distribution, report.version, work / "sdists")
    root = unpack(sdist, suite.members, work / suite.name)
    suite.prepare(root, servers)
    parts = suite.parts(root)
    for backend in BACKENDS:
        servers.clean()
        report.outcomes[backend] = suite.run(root, servers, backend, None, work)
        report.counted[backend] = {p: servers.counted_keys(db) for db, p in enumerate(parts)}
    differing = differences(report.outcomes["theirs"], report.outcomes["ours"])
    for attempt in range(1, RERUNS + 1):
        if not differing:
            break
        logs = work / f"{suite.name}-rerun{attempt}"
        logs.mkdir(exist_ok=True)
        for backend in BACKENDS:
            servers.clean()
            again = suite.run(root, servers, backend, list(differing), logs)
            for test, seen in differing.items():
                seen[backend].append(again.get(test, "not run"))
    for test, seen in differing.items():
        # The framework's test is flaky when its own backend gives it different
        # outcomes; a test that differs while theirs holds steady is a difference,
        # even if a rerun on its own agrees (it may depend on the tests before it).
        if len(set(seen["theirs"])) > 1:
            report.flaky.append(test)
        else:
            report.differing[test] = seen
    report.seconds = time.monotonic() - started
    return report


def tally(outcomes: Outcomes) -> str:
    counts = Counter(outcomes.values())
    return ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())


def shared_failures(report: Report) -> list[str]:
    bad = {"failed", "error"}
    theirs, ours = report.outcomes["theirs"], report.outcomes["ours"]
    return sorted(t for t in theirs if theirs[t] in bad and ours.get(t) in bad)


def print_report(reports: Iterable[Report], work: Path) -> bool:
    alike = True
    for report in reports:
        name = f"{report.suite.name} {report.version}"
        print(f"{name}: {len(report.outcomes['theirs'])} tests, {report.seconds:.0f} s")
        for backend in BACKENDS:
            counted = sum(report.counted[backend].values())
            print(
                f"  {backend:6} {tally(report.outcomes[backend])}; "
                f"warming-tasks' count keys afterwards: {counted}"
            )
        shared = shared_failures(report)
        if shared:
            listed = work / f"{report.suite.name}-fails-on-both.txt"
            listed.write_text("".join(f"{test}\n" for test in shared))
            print(f"  fail on both (the framework's, not ours): {len(shared)}, listed in {listed}")
            for test in shared[:SHOWN]:
                print(f"    {test}")
        for test in report.flaky:
            print(f"  flaky on the framework's own backend (not failing): {test}")
        for test, seen in report.differing.items():
            alike = False
            theirs, ours = "/".join(seen["theirs"]), "/".join(seen["ours"])
            print(f"  DIFFERS: {test}: theirs {theirs}, ours {ours}")
        for part, counted in report.counted["ours"].items():
            if counted == 0:
                alike = False
                print(f"  ours counted nothing in {part}: the tracking backend was not under test")
        for part, counted in report.counted["theirs"].items():
            if counted:
                alike = False
                print(f"  theirs counted reads in {part}: the framework's backend was not theirs")
    return alike


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.frameworks", description=__doc__)
    parser.add_argument("--only", choices=[s.name for s in SUITES], action="append")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (logs)")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="warming-frameworks-"))
    work.mkdir(parents=True, exist_ok=True)
    servers = start_servers(work)
    try:
        reports = [
            run_suite(suite, servers, work)
            for suite in SUITES
            if not args.only or suite.name in args.only
        ]
    finally:
        servers.close()
    ok = print_report(reports, work)
    if not args.keep:
        print(f"logs: {work}")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
