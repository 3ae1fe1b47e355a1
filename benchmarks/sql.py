"""Warming from PostgreSQL: a preload through ``warming_tasks.sql.SQLSource`` on a
worker (``-c 2``) against the script a user would write instead.

    python -m benchmarks --sql                 # 1,000,000 rows, 3 repetitions
    python -m benchmarks --sql --keys 100000   # a quick run

The script is the hand-written anchor: psycopg 3 and redis-py in one process, a
named (server-side) cursor with ``itersize`` 10,000 streaming ``SELECT id, body``
into pipelines of 1,000 ``SET … EX``. Both read the same table of rows of about
100 bytes, in a database of this harness's own on the local PostgreSQL (dropped
at the end), and write to a redis-server of its own; the two are interleaved,
and the ratio is paired within each repetition.

Each side of every repetition is also profiled: the CPU seconds per 1,000,000 rows
of PostgreSQL (every ``postgres`` process, from /proc), the cache redis-server
(``INFO cpu``; the broker and result backend are databases of the same server),
the worker's main process and its pool children, this process (the script itself
on the script side) and the rest of the machine's busy time (the kernel's
interrupts, anything else running), beside the wall time and the share of the
machine's cores kept busy (``sql_cpu_profile`` in the results).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis

from warming_tasks.cli.embedded import RedisProcess

from . import workloads as w
from .figures import spread
from .workers import worker

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
TTL_S = 3600
ITERSIZE = 10_000
PIPELINE = 1_000
SOURCE = "benchmarks.sql_source:items"
CLK_TCK = os.sysconf("SC_CLK_TCK")
# A backend whose connection closed is gone, its CPU time in the postmaster's
# children's, only once the postmaster reaped it: wait so long after a side.
SETTLE_S = 0.5
PROFILE = "sql_cpu_profile/"  # the figures that sql_report nests under sql_cpu_profile
# More of the machine's busy time than this outside the components: something else ran.
FOREIGN_SHARE = 0.1
COMPONENTS = ("postgres", "cache_redis", "worker_main", "worker_pool", "harness", "other")


@contextmanager
def database(rows: int) -> Iterator[str]:
    """A database of our own holding ``items(id, body)``: ``rows`` rows of ~100 bytes."""
    name = f"warming_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, body text NOT NULL)")
            conn.execute(
                "INSERT INTO items SELECT g, repeat(md5(g::text), 3) "
                "FROM generate_series(1, %s) AS g",
                (rows,),
            )
            conn.execute("VACUUM ANALYZE items")
        yield url
    finally:
        with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def script(conn: psycopg.Connection[Any], client: redis.Redis) -> int:
    """The user's own script, on connections it holds already (as the worker's are):
    the rows it wrote."""
    written = 0
    with conn.transaction(), conn.cursor(name="hot") as cur:
        cur.itersize = ITERSIZE
        cur.execute("SELECT id, body FROM items")
        pipe = client.pipeline(transaction=False)
        for key_id, body in cur:
            pipe.set(f"item:{key_id}", body, ex=TTL_S)
            written += 1
            if written % PIPELINE == 0:
                pipe.execute()
        pipe.execute()
    return written


@dataclass(frozen=True)
class _Proc:
    ppid: int
    comm: str
    cpu_s: float  # utime + stime, and the same of its children it has reaped


def _processes() -> dict[int, _Proc]:
    """Every process of the machine, from /proc/<pid>/stat."""
    found: dict[int, _Proc] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_bytes()
        except OSError:  # gone meanwhile
            continue
        head, _, tail = raw.rpartition(b")")  # the comm may hold spaces and parentheses
        fields = tail.split()
        # Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime), from field 3 on.
        ticks = sum(int(f) for f in fields[11:15])
        comm = head.partition(b"(")[2].decode(errors="replace")
        found[int(entry.name)] = _Proc(int(fields[1]), comm, ticks / CLK_TCK)
    return found


def _machine_busy_s() -> float:
    """CPU seconds all the machine's cores have been busy (not idle, not waiting)."""
    with open("/proc/stat") as stat:
        fields = [int(f) for f in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


@dataclass(frozen=True)
class _Snapshot:
    machine_s: float
    redis_s: float
    commands_us: dict[str, float]
    harness_s: float
    postgres_s: float
    worker_main_s: float
    worker_pool_s: float


def _snapshot(client: redis.Redis, machine_s: float | None = None) -> _Snapshot:
    procs = _processes()
    me = os.getpid()
    # The worker: our children but the cache redis-server (its main process), and theirs.
    main = {pid for pid, p in procs.items() if p.ppid == me and p.comm != "redis-server"}
    pool = {pid for pid, p in procs.items() if p.ppid in main}
    stats: dict[str, dict[str, float]] = client.info("commandstats")
    times = os.times()
    return _Snapshot(
        machine_s=_machine_busy_s() if machine_s is None else machine_s,
        redis_s=w.cpu_s(client),
        commands_us={name.removeprefix("cmdstat_"): s["usec"] for name, s in stats.items()},
        harness_s=times.user + times.system,
        postgres_s=sum(p.cpu_s for p in procs.values() if p.comm == "postgres"),
        worker_main_s=sum(procs[pid].cpu_s for pid in main),
        worker_pool_s=sum(procs[pid].cpu_s for pid in pool),
    )


def _profile(
    side: str, rows: int, seconds: float, before: _Snapshot, after: _Snapshot
) -> dict[str, float]:
    """The CPU seconds per 1M rows of each component, flattened for the figures."""
    per = 1e6 / rows
    spent = {
        "postgres": after.postgres_s - before.postgres_s,
        "cache_redis": after.redis_s - before.redis_s,
        "worker_main": after.worker_main_s - before.worker_main_s,
        "worker_pool": after.worker_pool_s - before.worker_pool_s,
        "harness": after.harness_s - before.harness_s,
    }
    machine = after.machine_s - before.machine_s
    spent["other"] = machine - sum(spent.values())
    out = {f"{PROFILE}{side}/{name}": s * per for name, s in spent.items()}
    out[f"{PROFILE}{side}/machine_busy"] = machine * per
    out[f"{PROFILE}{side}/wall"] = seconds * per
    out[f"{PROFILE}{side}/cores_busy"] = machine / seconds
    for name, usec in after.commands_us.items():
        used = usec - before.commands_us.get(name, 0.0)
        if used > 0:
            out[f"{PROFILE}{side}/redis_commands/{name}"] = used / 1e6 * per
    return out


def measure_sql(
    rows: int, repeat: int, workdir: Path, batch_size: int | None = None, pre_ping: bool = True
) -> dict[str, list[float]]:
    """``batch_size``: SQLSource's (None: the one it declares); ``pre_ping``: its
    pool's ``pool_pre_ping``. Everything else at the suite's defaults."""
    figures: dict[str, list[float]] = {"sql_script_rows_per_s": [], "sql_preload_rows_per_s": []}
    with (
        database(rows) as url,
        RedisProcess(data_dir=workdir / "redis") as server,
        worker(
            server,
            workdir,
            BENCH_SQL_URL=url,
            WARMING_SOURCE=SOURCE,
            BENCH_SQL_PRE_PING="1" if pre_ping else "0",
            BENCH_SQL_BATCH_SIZE=str(batch_size or ""),  # empty: what the source declares
        ) as app,
        psycopg.connect(url) as conn,
    ):
        client = server.client(0)
        # Warm-up, both sides alike: imports, pools, the table in PostgreSQL's cache.
        w.run_task(app, "preload")
        client.flushdb()
        script(conn, client)
        for rep in range(1, repeat + 1):
            print(f"sql repetition {rep}/{repeat} …", flush=True)
            # Alternate which goes first, so neither always finds the other's leftovers.
            for which in ("script", "preload") if rep % 2 else ("preload", "script"):
                client.flushdb()
                time.sleep(SETTLE_S)  # the flush's own CPU, and any backend's exit, before
                before = _snapshot(client)
                if which == "script":
                    started = time.perf_counter()
                    if script(conn, client) != rows:
                        raise RuntimeError("the script did not write every row")
                    seconds = time.perf_counter() - started
                else:
                    seconds, summary = w.run_task(app, "preload")
                    if summary["loaded"] != rows:
                        raise RuntimeError(f"the preload loaded {summary['loaded']} of {rows}")
                    if "dispatch_s" in summary:  # until the last batch was sent
                        figures.setdefault(f"{PROFILE}preload/dispatch_wall", []).append(
                            float(summary["dispatch_s"]) * 1e6 / rows
                        )
                busy_s = _machine_busy_s()
                time.sleep(SETTLE_S)
                after = _snapshot(client, machine_s=busy_s)
                figures[f"sql_{which}_rows_per_s"].append(rows / seconds)
                profile = _profile(which, rows, seconds, before, after)
                for name, value in profile.items():
                    figures.setdefault(name, []).append(value)
                other = profile[f"{PROFILE}{which}/other"]
                if other > FOREIGN_SHARE * profile[f"{PROFILE}{which}/machine_busy"]:
                    print(
                        f"  the {which} shared the machine: {other:.2f} CPU s per 1M rows not ours"
                    )
        client.flushdb()
    return figures


def cpu_profile(figures: dict[str, list[float]]) -> dict[str, Any]:
    """The profile's figures, nested per side: medians (min, max) over the repetitions."""
    profile: dict[str, Any] = {
        "unit": "CPU s per 1M rows (wall, dispatch_wall: s per 1M rows; "
        "cores_busy: machine busy s / wall s)",
        "cores": os.cpu_count(),
        "broker": "the cache redis-server's db 1 (results db 2): in cache_redis",
        "worker_pool": "the pool children: the entry task (dispatch) and the batches",
        "other": "machine busy time not in the rest: kernel interrupts, other processes",
    }
    for name, values in figures.items():
        if name.startswith(PROFILE):
            side, _, part = name.removeprefix(PROFILE).partition("/")
            node = profile.setdefault(side, {})
            *path, leaf = part.split("/")
            for step in path:
                node = node.setdefault(step, {})
            node[leaf] = spread(values) | {"values": values}
    return profile


def print_cpu_profile(profile: dict[str, Any]) -> None:
    sides = [side for side in ("script", "preload") if side in profile]
    print(f"\nCPU s per 1M rows, medians (min-max), on {profile['cores']} cores")
    print(f"{'component':16}" + "".join(f"{side:>24}" for side in sides))
    for name in (*COMPONENTS, "machine_busy", "wall", "cores_busy"):
        cells = [profile[side][name] for side in sides]
        print(
            f"{name:16}"
            + "".join(f"  {c['median']:8.2f} ({c['min']:5.2f}-{c['max']:5.2f})" for c in cells)
        )
    if "dispatch_wall" in profile.get("preload", {}):
        d = profile["preload"]["dispatch_wall"]
        print(f"{'dispatch_wall':16}{'':24}  {d['median']:8.2f} ({d['min']:5.2f}-{d['max']:5.2f})")
    for side in sides:
        commands = profile[side].get("redis_commands", {})
        top = sorted(commands.items(), key=lambda kv: -kv[1]["median"])[:8]
        shown = ", ".join(f"{name} {s['median']:.2f}" for name, s in top)
        print(f"cache_redis commands, {side}: {shown}")


def sql_report(rows: int, figures: dict[str, list[float]]) -> dict[str, Any]:
    """The figures, the paired ratio and (printed too) the CPU profile."""
    profile = cpu_profile(figures)
    print_cpu_profile(profile)
    figures = {name: v for name, v in figures.items() if not name.startswith(PROFILE)}
    pairs = [
        p / s
        for p, s in zip(
            figures["sql_preload_rows_per_s"], figures["sql_script_rows_per_s"], strict=True
        )
    ]
    ratio = spread(pairs)
    return {
        "sql_rows": rows,
        "sql_figures": {name: spread(v) for name, v in figures.items()},
        "sql_preload_vs_script": ratio["median"],
        "sql_preload_vs_script_range": ratio
        | {"target": ">= 1.3", "meets": ratio["median"] >= 1.3},
        "sql_cpu_profile": profile,
    }
