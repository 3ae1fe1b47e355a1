"""Plant one bug at a time in a copy of the package and check the suite catches it.

    python -m tests.mutations            # every mutation, a table, exit 1 if one survives
    python -m tests.mutations cas-any    # only the ones named

Each mutation replaces one exact piece of source (it must occur once: a mutation
that no longer applies is an error, so the list keeps up with the code) in a copy
of the checkout, then runs the tests that should notice, first failure ends it.
A mutation is caught when a test fails; it survives when they all pass. Each
selection is first run on an unmutated copy and must pass there, so a failure
under a mutation is the mutation's doing.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
IGNORED = (".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "results")
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str  # the guarantee it breaks, as a user would put it
    path: str
    old: str
    new: str
    tests: tuple[str, ...]  # pytest arguments: the tests that should notice


MUTATIONS = (
    Mutation(
        "set-overwrites",
        "a preload writes over a key the application wrote after the batch looked",
        "warming_tasks/store/cache.py",
        "*entries[i][1:], nx=True)",
        "*entries[i][1:], nx=False)",
        ("tests/test_guards.py", "-k", "preload or predictive"),
    ),
    Mutation(
        "cas-any",
        "a write replaces whatever value the key holds, not only the bytes it saw",
        "warming_tasks/store/lua/cas.lua",
        "local same = held == ARGV[at]",
        "local same = held ~= false",
        ("tests/test_guards.py", "-k", "refresh"),
    ),
    Mutation(
        "cas-resurrects",
        "a write brings back a key the application deleted while the batch loaded it",
        "warming_tasks/store/lua/cas.lua",
        "local same = held == ARGV[at]",
        "local same = held == ARGV[at] or not held",
        ("tests/test_guards.py", "-k", "preload or deleted"),
    ),
    Mutation(
        "cas-no-ttl-check",
        "a refresh writes a key the application made persistent",
        "warming_tasks/store/lua/cas.lua",
        "if same and need_ttl then",
        "if false then",
        ("tests/test_guards.py", "-k", "persistent"),
    ),
    Mutation(
        "watch-no-compare",
        "a large value is written over whatever the key holds",
        "warming_tasks/store/cache.py",
        "if pipe.get(name) != held or",
        "if False and pipe.get(name) != held or",
        ("tests/test_warmer.py", "-k", "large"),
    ),
    Mutation(
        "cluster-set-overwrites",
        "on a Redis Cluster, a preload writes over a key the application wrote",
        "warming_tasks/store/cache.py",
        "pipe.set(self.key(key), value, ex=ttl_s, nx=True)",
        "pipe.set(self.key(key), value, ex=ttl_s, nx=False)",
        ("tests/test_cluster.py", "-k", "during_the_load and (preload or predictive)"),
    ),
    Mutation(
        "cluster-unguarded",
        "on a Redis Cluster, a write replaces a held key whatever it holds now",
        "warming_tasks/store/cache.py",
        'pipe.execute_command("EVAL", cas, 1, self.key(key), flag, held, value, ttl_s)',
        "pipe.set(self.key(key), value, ex=ttl_s)",
        ("tests/test_cluster.py", "-k", "during_the_load and refresh"),
    ),
    Mutation(
        "cluster-no-ttl-check",
        "on a Redis Cluster, a refresh writes a key the application made persistent",
        "warming_tasks/store/cache.py",
        'flag = script_text("cas"), "1" if plan.need_ttl else "0"',
        'flag = script_text("cas"), "0"',
        ("tests/test_cluster.py", "-k", "during_the_load and refresh"),
    ),
    Mutation(
        "refresh-writes-absent",
        "a refresh writes a key that had expired or was deleted before it looked",
        "warming_tasks/store/cache.py",
        "                if not need_ttl:  # a refresh never writes a key that was not there",
        "                if True:",
        ("tests/test_warmer.py", "-k", "refresh or needs_a_ttl"),
    ),
    Mutation(
        "stale-past-bound",
        "stale-if-error keeps a key past the grace it was given",
        "warming_tasks/store/lua/keep_stale.lua",
        "local until_ms = math.min(now + keep, first + grace)",
        "local until_ms = now + keep",
        ("tests/test_guards.py", "-k", "stale_if_error"),
    ),
    Mutation(
        "retry-warms-again",
        "a batch retried after its counting failed loads and writes its keys again",
        "warming_tasks/tasks/batch.py",
        "    if outcome is not None:  # written on an earlier try; only its counting failed",
        "    if False:",
        ("tests/test_tasks.py", "-k", "counting_failed"),
    ),
    Mutation(
        "flush-counts-dropped",
        "flush() counts the accesses of keys it dropped to stay within bounds",
        "warming_tasks/tracker/access.py",
        "self._pending_counts = Counter({key: counts[key] for key in weights})",
        "self._pending_counts = counts",
        ("tests/test_tracker.py", "-k", "outage"),
    ),
    Mutation(
        "reads-lost",
        "hits and misses counted while Redis refused them are lost",
        "warming_tasks/tracker/access.py",
        "            self._pending_reads = reads  # the access counts said so already, if down",
        "            pass",
        ("tests/test_tracker.py", "-k", "hits_and_misses"),
    ),
    Mutation(
        "flush-loses-owed",
        "a flush that fails midway forgets the chunks it did not deliver",
        "warming_tasks/tracker/access.py",
        "                self._keep(weights, at, counts)",
        "                self._keep({}, at, counts)",
        ("tests/test_tracker.py", "-k", "fails_midway"),
    ),
    Mutation(
        "copy-replaces",
        "a copy writes over a key the cache already holds",
        "warming_tasks/store/restore.py",
        'wire.pack("RESTORE", k.key, k.ttl_ms, k.value)',
        'wire.pack("RESTORE", k.key, k.ttl_ms, k.value, "REPLACE")',
        ("tests/test_copy.py", "-k", "hottest_keys_first"),
    ),
    Mutation(
        "copy-lengthens-ttl",
        "a copied key outlives the TTL it had left on the other server",
        "warming_tasks/copier.py",
        "                ttl_ms = pttl_ms - elapsed_ms",
        "                ttl_ms = pttl_ms + 5000",
        ("tests/test_copy.py", "-k", "expired or hottest_keys_first"),
    ),
    Mutation(
        "copy-takes-persistent",
        "a copy writes keys without a TTL although --persistent was not given",
        "warming_tasks/copier.py",
        "            elif read.pttl_ms == _NO_EXPIRY and not self.persistent:",
        "            elif False:",
        ("tests/test_copy.py", "-k", "hottest_keys_first"),
    ),
)


@dataclass(frozen=True)
class Outcome:
    mutation: Mutation
    caught_by: str | None  # the first test that failed; None: it survived
    seconds: float


def copy_checkout(workdir: Path, name: str) -> Path:
    copy = workdir / name
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(*IGNORED))
    return copy


def pytest(copy: Path, tests: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    """The tests run against ``copy``: its package and tests first on the path, in
    this process's children and in the workers they start."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-rf", "-p", "no:cacheprovider", *tests],
        cwd=copy,
        env=os.environ | {"PYTHONPATH": str(copy)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )


def tail(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join((done.stdout + done.stderr).splitlines()[-20:])


def baseline(workdir: Path, chosen: list[Mutation]) -> None:
    """Each selection passes unmutated, so a failure under a mutation is its doing."""
    copy = copy_checkout(workdir, "unmutated")
    for tests in dict.fromkeys(m.tests for m in chosen):
        done = pytest(copy, tests)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(tests)} fails with no mutation planted:\n{tail(done)}")
    shutil.rmtree(copy, ignore_errors=True)


def run(mutation: Mutation, workdir: Path) -> Outcome:
    """The mutation planted in a fresh copy of the checkout, and its tests' verdict."""
    copy = copy_checkout(workdir, mutation.name)
    target = copy / mutation.path
    source = target.read_text()
    if source.count(mutation.old) != 1:
        raise SystemExit(
            f"mutation {mutation.name} no longer applies: {mutation.old!r} occurs "
            f"{source.count(mutation.old)} times in {mutation.path}; update tests/mutations.py"
        )
    target.write_text(source.replace(mutation.old, mutation.new))
    started = time.monotonic()
    done = pytest(copy, mutation.tests)
    seconds = time.monotonic() - started
    shutil.rmtree(copy, ignore_errors=True)
    if done.returncode == 0:
        return Outcome(mutation, None, seconds)
    failed = re.search(r"^FAILED (\S+)", done.stdout, re.MULTILINE)
    if done.returncode != 1 or failed is None:
        raise SystemExit(f"mutation {mutation.name}: pytest exited {done.returncode}\n{tail(done)}")
    return Outcome(mutation, failed.group(1), seconds)


def main(names: list[str]) -> int:
    unknown = set(names) - {m.name for m in MUTATIONS}
    if unknown:
        raise SystemExit(f"no such mutation: {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTATIONS if not names or m.name in names]
    outcomes = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="warming-mutations-") as tmp:
        baseline(Path(tmp), chosen)
        for mutation in chosen:
            outcome = run(mutation, Path(tmp))
            verdict = outcome.caught_by or "SURVIVED"
            print(f"{mutation.name:24} {outcome.seconds:6.1f} s  {verdict}", flush=True)
            outcomes.append(outcome)
    survivors = [o.mutation.name for o in outcomes if o.caught_by is None]
    print(
        f"\n{len(outcomes) - len(survivors)} of {len(outcomes)} mutations caught "
        f"in {time.monotonic() - started:.0f} s"
        + (f"; survived: {', '.join(survivors)}" if survivors else "")
    )
    return 1 if survivors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
