"""How summaries and stats look at a terminal (rich tables)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.table import Table

from ..kinds import ALWAYS_COUNTED, Kind
from .console import err, out


def print_summary(summary: dict[str, Any]) -> None:
    table = Table(title=f"{summary.get('kind', 'run')} {summary.get('run_id') or ''}".strip())
    table.add_column("field")
    table.add_column("value", justify="right")
    for name, value in summary.items():
        if name not in ("kind", "run_id", "errors", "started_at"):
            table.add_row(name, str(value))
    out.print(table)
    for error in summary.get("errors", []):
        out.print(f"  failed {error['key']!r}: {error['reason']}", markup=False)


def print_strategies(data: dict[str, Any]) -> None:
    table = Table(title="what each strategy warmed, and how much the application read")
    columns = ("strategy", "warmed", "sampled", "read", "unread", "share", "superseded", "stale")
    for column in columns:
        table.add_column(column, justify="left" if column == "strategy" else "right", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    for row in data["strategies"]:
        share = row["read_share"]
        table.add_row(
            row["strategy"],
            f"{row['warmed']:,}",
            f"{row['sampled']:,}",
            f"{row['read_before_expiry']:,}",
            f"{row['expired_unread']:,}",
            "-" if share is None else f"{share:.0%}",
            f"{row['superseded']:,}",
            f"{row['kept_stale']:,}",
            row["verdict"],
        )
    out.print(table)
    out.print(
        "of the sampled keys: read = read before they expired, unread = expired unread, "
        "share = read / (read + unread); superseded = left to the application's newer "
        "value, stale = kept past expiry while the source failed (WARMING_STALE_IF_ERROR)"
    )
    if data["best_strategy"]:
        out.print(f"best strategy: {data['best_strategy']}")


def print_stats(data: dict[str, Any]) -> None:
    out.print(
        f"cache {data['cache']}: {data['tracked_keys']} keys tracked "
        f"(half-life {data['half_life_s']:g} s)",
        markup=False,
    )
    out.print(describe_half_life(data["half_life"]), markup=False)
    keys = Table(title="most read keys (decayed reads)")
    keys.add_column("key")
    keys.add_column("score", justify="right")
    for row in data["top_keys"]:
        keys.add_row(row["key"], f"{row['score']:,.1f}")
    out.print(keys)
    reads = data["reads"]
    ratio = "-" if reads["hit_ratio"] is None else f"{reads['hit_ratio']:.1%}"
    out.print(
        f"tracked reads that knew hit or miss: {reads['hits']:,} hits, "
        f"{reads['misses']:,} misses, hit ratio {ratio}"
    )
    print_strategies(data)
    runs = Table(title="recent runs")
    for column in ("kind", "source", "finished (UTC)", "duration s", "batches", "counts"):
        runs.add_column(column, no_wrap=True)
    for run in data["recent_runs"]:
        counts = (*Kind.named(run["kind"]).fields, *(n for n in ALWAYS_COUNTED if run.get(n)))
        started = float(run.get("started_at", 0))
        when = _clock(started + float(run.get("duration_s", 0)))
        runs.add_row(
            run["kind"],
            run.get("source") or "all",
            when,
            f"{run['duration_s']:.2f}",
            str(run["batches"]),
            " ".join(f"{c}={run.get(c, 0)}" for c in counts),
        )
    out.print(runs)
    locks = data["refresh_locks"]
    for name, lock in locks.items():
        which = "refresh lock" if len(locks) == 1 else f"refresh lock of {name}"
        state = (
            "free"
            if lock is None
            else f"held by run {lock['run_id']} for {lock['expires_in_s']:.0f} s more"
        )
        out.print(f"{which}: {state}")
    paused = data["paused"]
    if paused:
        out.print(
            f"warming is PAUSED since {_clock(paused['since'])} UTC by {paused['by']}: "
            "`warming-tasks resume` to go on",
            markup=False,
        )
    out.print(f"maxmemory-policy: {data['eviction_policy'] or 'unknown'}")
    for warning in data["warnings"]:
        err.print(f"warning: {warning}", markup=False)


def _clock(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%m-%d %H:%M:%S")


def print_settings(rows: list[dict[str, Any]]) -> None:
    table = Table(title="effective settings")
    for column in ("setting", "value", "from"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], "" if row["value"] is None else str(row["value"]), row["from"])
    out.print(table)


def describe_half_life(state: dict[str, Any]) -> str:
    """One line on how the half-life is chosen and what auto believes, in words a
    user can act on: before there is evidence, that there is none yet."""
    if state["mode"] == "fixed":
        return f"half-life fixed at {state['seconds']:g} s (WARMING_DECAY_HALF_LIFE)"
    reads, needed = state["evidence_reads"], state["evidence_needed"]
    if state["since"] is None or reads < needed:
        return (
            f"half-life auto: {state['seconds']:g} s, the one it starts with: "
            f"{reads:,.0f} of the {needed:,.0f} sampled reads it needs before it chooses "
            "(track the application's reads: track_access or a tracking cache backend)"
        )
    since = dt.datetime.fromtimestamp(state["since"], dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    ratios = state["hit_ratio_by_candidate"]
    best = max(ratios, key=lambda h: ratios[h] or 0.0)
    shown = ", ".join(f"{h} s {'-' if r is None else f'{r:.1%}'}" for h, r in ratios.items())
    return (
        f"half-life auto: {state['seconds']:g} s since {since} UTC (a read counts half "
        f"after {_duration(state['seconds'])}); of the last {reads:,.0f} sampled reads, a "
        f"top-{state['tuned_for_top']:,} warm set ranked with each candidate half-life "
        f"would have held: {shown} (best {best} s)"
    )


_MINUTE_S, _HOUR_S = 60, 3600


def _duration(seconds: float) -> str:
    if seconds < 2 * _MINUTE_S:
        return f"{seconds:g} s"
    if seconds < 2 * _HOUR_S:
        return f"{seconds / _MINUTE_S:.0f} min"
    return f"{seconds / _HOUR_S:.1f} h"
