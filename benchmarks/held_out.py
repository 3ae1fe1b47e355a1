"""``auto`` on workloads it was not tuned on: the trace families of
``benchmarks.trace_families`` (each from seeds and a parameter), warm sets of N
from 100 to 10,000, ``auto`` tuned for ``WARMING_PREDICTIVE_LIMIT=N`` and left at
the default limit, against the best fixed half-life in hindsight on each trace.

    python -m benchmarks.held_out                 # every family, 4 seeds (~10 min)
    python -m benchmarks.held_out --families zipf,shift --seeds 1,3

Seeds 1 and 2 are the tuning seeds (look at them while changing ``auto``); 3 and
4 are held out (report them). The figure is ``min_vs_hindsight_best``: ``auto``'s
hit ratio over the best fixed half-life's, the minimum over the traces of each
family and N, for each seed set and limit setting; beside it ``auto`` against
plain counts (points). Two processes replay at once, each with a redis-server of
its own. Results go to ``benchmarks/results/<date>-held-out.json``.

Beside ``auto``, a ceiling: the full-information leader, which sees every read
(no sample) and picks the fixed half-life of the grid whose ranking as of
``LEADER_WINDOW_S`` before the end of training held most of the reads of those last
seconds. It is what choosing a half-life from how the candidates did on past reads
can reach at best; where it stays below 0.99, no such choice reaches the goal.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from warming_tasks.cli.embedded import RedisProcess

from .hit_ratio import Config, Timings, Trace, counts_ranking, decayed_ranking, hit_ratio
from .results import save
from .trace_families import Family, families, make

TUNING_SEEDS = (1, 2)
HELD_OUT_SEEDS = (3, 4)
DEFAULT_LIMIT = 1000  # WARMING_PREDICTIVE_LIMIT's default
# Smaller than the harness' own traces (a replay a second), the same time scale:
# 400 s windows, three of training and one of test.
CONFIG = replace(
    Config(),
    keys=50_000,
    window_accesses=50_000,
    rate_per_s=125.0,
    sizes=(100, 500, 1_000, 5_000, 10_000),
)
# How far back the full-information leader judges the candidates from: of 100, 200
# and 400 s, the one whose leader came closest to hindsight (400 s mixes in the
# reads before a shift or a flash crowd; 100 s is too few reads at N = 10,000).
LEADER_WINDOW_S = 200.0


def leader_half_lives(
    trace: Trace, grid: Sequence[float], sizes: Sequence[int]
) -> dict[int, float]:
    """Per N, the fixed half-life whose exact forward-decayed ranking as of
    ``LEADER_WINDOW_S`` before the end of training held most of the reads after it
    (ties: the longest)."""
    cut = trace.training_end - LEADER_WINDOW_S
    before = [(key, t) for key, t in zip(trace.training, trace.training_at, strict=True) if t < cut]
    after = Counter(
        key for key, t in zip(trace.training, trace.training_at, strict=True) if t >= cut
    )
    total = sum(after.values())
    origin = trace.training_at[0]
    held: dict[int, dict[float, float]] = defaultdict(dict)
    for h in grid:
        scores: defaultdict[str, float] = defaultdict(float)
        for key, t in before:
            scores[key] += 2.0 ** ((t - origin) / h)
        ranking = sorted(scores, key=scores.__getitem__, reverse=True)[: max(sizes)]
        for n in sizes:
            held[n][h] = hit_ratio(after, total, ranking, n)
    return {n: max(sorted(grid), key=lambda h: (by_h[h], h)) for n, by_h in held.items()}


def one_trace(family: Family, seed: int) -> list[dict[str, Any]]:
    """The rows of one trace: per N, each ranking's hit ratio on the test window."""
    cfg = CONFIG
    trace = make(cfg, family, seed)
    timings = Timings()
    with RedisProcess() as server:
        decayed = {
            h: decayed_ranking(cfg, trace, server, h, timings).keys for h in cfg.half_lives_s
        }
        tuned = {
            n: decayed_ranking(cfg, trace, server, "auto", timings, limit=n) for n in cfg.sizes
        }
        # The default limit, the warm set read by predictive loads of limit=N.
        default = {
            n: decayed_ranking(cfg, trace, server, "auto", timings, limit=DEFAULT_LIMIT, loads=n)
            for n in cfg.sizes
        }
    counts = counts_ranking(trace.training, max(cfg.sizes))
    leader = leader_half_lives(trace, cfg.half_lives_s, cfg.sizes)
    test, total = Counter(trace.test), len(trace.test)
    rows = []
    for n in cfg.sizes:
        by_h = {h: hit_ratio(test, total, r, n) for h, r in decayed.items()}
        best = max(by_h, key=by_h.__getitem__)
        rows.append(
            {
                "family": family.name,
                "param": family.param,
                "seed": seed,
                "n": n,
                "ideal": hit_ratio(test, total, trace.ideal, n),
                "counts": hit_ratio(test, total, counts, n),
                "hindsight": by_h[best],
                "hindsight_half_life_s": best,
                "leader": by_h[leader[n]],
                "leader_half_life_s": leader[n],
                "auto_limit_n": hit_ratio(test, total, tuned[n].keys, n),
                "auto_limit_n_half_life_s": tuned[n].half_life_s,
                "auto_default": hit_ratio(test, total, default[n].keys, n),
                "auto_default_half_life_s": default[n].half_life_s,
            }
        )
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per seed set and limit setting (and for the full-information leader): the
    minimum over hindsight per family and N, the overall minimum, and the gain over
    plain counts in points (its minimum)."""
    out: dict[str, Any] = {}
    for seeds_name, seeds in (("tuning", TUNING_SEEDS), ("held_out", HELD_OUT_SEEDS)):
        for setting in ("auto_limit_n", "auto_default", "leader"):
            picked = [r for r in rows if r["seed"] in seeds]
            table: dict[str, dict[str, float]] = {}
            for r in picked:
                ratio = r[setting] / r["hindsight"] if r["hindsight"] else 1.0
                cell = table.setdefault(r["family"], {})
                cell[str(r["n"])] = min(cell.get(str(r["n"]), 1e9), ratio)
            gains = [100 * (r[setting] - r["counts"]) for r in picked]
            ratios = [v for cells in table.values() for v in cells.values()]
            out[f"{seeds_name}/{setting}"] = {
                "min_vs_hindsight_best": min(ratios) if ratios else None,
                "min_gain_over_counts_points": min(gains) if gains else None,
                "by_family_and_n": table,
            }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.held_out", description=__doc__)
    parser.add_argument("--families", default="", help="only these, comma-separated")
    parser.add_argument(
        "--seeds", default=",".join(map(str, TUNING_SEEDS + HELD_OUT_SEEDS)), help="seeds"
    )
    parser.add_argument("--out", type=Path, default=None, help="default: a dated result file")
    args = parser.parse_args(argv)
    wanted = {f for f in args.families.split(",") if f}
    chosen = [f for f in families() if not wanted or f.name in wanted]
    seeds = [int(s) for s in args.seeds.split(",") if s]
    jobs = [(f, s) for f in chosen for s in seeds]
    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(one_trace, f, s) for f, s in jobs]
        for (family, seed), future in zip(jobs, futures, strict=True):
            rows += future.result()
            print(f"{family.label} seed={seed} done", file=sys.stderr, flush=True)
    result: dict[str, Any] = {
        "config": {"keys": CONFIG.keys, "window_accesses": CONFIG.window_accesses}
    }
    result |= {"summary": summarise(rows), "table": rows}
    result["run_s"] = round(time.perf_counter() - started, 1)
    written = save(result, "held-out", args.out)
    for name, part in result["summary"].items():
        low = part["min_vs_hindsight_best"]
        gain = part["min_gain_over_counts_points"]
        if low is None or gain is None:
            continue  # no trace of these seeds in this run
        print(f"{name:28} min_vs_hindsight_best {low:.4f}  min gain over counts {gain:+.2f} pt")
        for family, cells in part["by_family_and_n"].items():
            shown = "  ".join(f"N={n}:{v:.3f}" for n, v in cells.items())
            print(f"    {family:9} {shown}")
    print(f"replay time {result['run_s']} s\nwritten to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
