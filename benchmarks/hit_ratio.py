"""Does warming help? Hit ratio of the warm set against the ideal, on synthetic traces.

    python -m benchmarks.hit_ratio                       # the full evaluation (about a minute)
    python -m benchmarks.hit_ratio --half-lives 600,3600 # other candidate half-lives

Each trace draws accesses from a Zipf distribution over ``keys`` keys (fixed random
seed): three training windows, then one test window, of 200,000 accesses at 500
accesses per second (400 s of simulated time each). A trace is stationary, or
drifts (each window, including the test window, 30% of the top 2,000 ranks each
get a brand-new key, one every ``window / 600`` accesses; the key replaced falls
to a random rank of the cold tail), or has a brand-new key become the hottest
halfway through training. New keys are never read before they rise, so no
ranking can hold them by luck: a key that rises during the test window is a
miss for every ranking, the ideal included.

The training windows are replayed through a real ``AccessTracker`` (its clock is
the simulated time, advanced per access) into a redis-server of our own, flushed
every 5 s of simulated time as the background flusher would; the warm set of N
keys is then ``CacheStore.top_keys(N)``, exactly what ``predictive_load`` picks.
Its hit ratio is the share of the test window's accesses that fall in it.
Beside it, on the same accesses:

- ideal: the true top N of the generating distribution at the end of training;
- counts: plain access counts, no decay (ties: first seen first);
- seed: the Rust seed's ``count / hours since the previous access`` with
  whole-second timestamps, bug included (reads within the same second as the
  previous one never update the frequency), ties broken by count and then in a
  seeded random order (the seed iterates a ``HashMap``).

Results go to ``benchmarks/results/hit_ratio.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.tracker import AccessTracker

RESULTS = Path(__file__).parent / "results"
OUTPUT = RESULTS / "hit_ratio.json"

START_S = 1_700_000_000.0  # simulated wall-clock time of the first access
Kind = Literal["stationary", "drift", "new_key"]

# The goals, at the default half-life.
GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "min_vs_ideal_stationary": (">= 0.98", lambda v: v >= 0.98),
    "min_vs_ideal_drift": (">= 0.93", lambda v: v >= 0.93),
    "min_gain_over_counts_drift": (">= 1 point", lambda v: v >= 1.0),
    "min_gain_over_seed": ("> 0 points", lambda v: v > 0.0),
}


@dataclass(frozen=True)
class Config:
    """What to generate and what to measure; the defaults are issue 9's evaluation."""

    keys: int = 100_000
    window_accesses: int = 200_000
    rate_per_s: float = 500.0
    training_windows: int = 3
    exponents: tuple[float, ...] = (0.8, 1.0, 1.2)
    drift_top: int = 2_000  # the ranks that drift
    drift_share: float = 0.3  # of them replaced per window
    new_key_exponent: float = 1.0
    sizes: tuple[int, ...] = (1_000, 10_000)
    half_lives_s: tuple[float, ...] = (120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0)
    default_half_life_s: float = 3600.0
    flush_every_s: float = 5.0
    tracker_max_keys: int = 100_000
    seed: int = 9

    @property
    def training_accesses(self) -> int:
        return self.window_accesses * self.training_windows

    @property
    def candidates(self) -> tuple[float, ...]:
        """The half-lives evaluated: the candidates and the default, in order."""
        return tuple(sorted({*self.half_lives_s, self.default_half_life_s}))


@dataclass
class Trace:
    name: str
    kind: Kind
    exponent: float
    training: list[str]
    test: list[str]
    ideal: list[str]  # the true ranking at the end of training, top max(sizes)
    new_key: str | None = None


@dataclass
class Timings:
    generate_s: float = 0.0
    counts_s: float = 0.0
    seed_s: float = 0.0
    replay_s: float = 0.0
    replayed_accesses: int = 0
    flushes: int = 0
    per_half_life_s: dict[str, float] = field(default_factory=dict)


# -- traces ----------------------------------------------------------------------------


def key_name(key_id: int) -> str:
    return f"item:{key_id}"


def _zipf_cum_weights(keys: int, exponent: float) -> list[float]:
    return list(itertools.accumulate(rank**-exponent for rank in range(1, keys + 1)))


def _events(cfg: Config, kind: Kind, rng: random.Random) -> list[tuple[int, int, int]]:
    """(access index, rank, tail rank) changes to the rank→key mapping, in order.

    Drift: per window, ``drift_share`` of the top ``drift_top`` ranks each get a
    brand-new key, evenly spread through the window; the key replaced falls to a
    random rank of the cold tail (``tail rank``), whose key drops out. New key:
    rank -1 means "insert a new key at rank 0" (the rest shift down one rank).
    """
    w = cfg.window_accesses
    if kind == "new_key":
        return [(cfg.training_accesses // 2, -1, -1)]
    if kind == "stationary":
        return []
    replaced = round(cfg.drift_share * cfg.drift_top)
    events = []
    for window in range(cfg.training_windows + 1):
        ranks = rng.sample(range(cfg.drift_top), replaced)
        for j, rank in enumerate(ranks):
            at = window * w + (2 * j + 1) * w // (2 * replaced)
            events.append((at, rank, rng.randrange(cfg.drift_top, cfg.keys)))
    return events


def generate(cfg: Config, kind: Kind, exponent: float) -> Trace:
    """One trace, the same for the same configuration on every run."""
    name = f"{kind} s={exponent}"
    rng = random.Random(f"{cfg.seed}:{name}")
    mapping = list(range(cfg.keys))  # rank → key id
    rng.shuffle(mapping)  # key names say nothing about popularity
    names = [key_name(i) for i in range(cfg.keys)]
    total = cfg.training_accesses + cfg.window_accesses
    ranks = rng.choices(range(cfg.keys), cum_weights=_zipf_cum_weights(cfg.keys, exponent), k=total)
    events = _events(cfg, kind, rng)
    accesses: list[str] = []
    ideal: list[str] = []
    start = 0
    boundaries = sorted({at for at, _, _ in events} | {cfg.training_accesses, total})
    pending = iter(events)
    event = next(pending, None)
    for stop in boundaries:
        accesses.extend([names[mapping[r]] for r in ranks[start:stop]])
        if stop == cfg.training_accesses:
            ideal = [names[k] for k in mapping[: max(cfg.sizes)]]
        while event is not None and event[0] == stop:
            _, rank, tail = event
            new_id = len(names)  # a key never read before
            names.append(key_name(new_id))
            if rank < 0:
                mapping.insert(0, new_id)
                mapping.pop()
            else:
                mapping[tail] = mapping[rank]
                mapping[rank] = new_id
            event = next(pending, None)
        start = stop
    return Trace(
        name=name,
        kind=kind,
        exponent=exponent,
        training=accesses[: cfg.training_accesses],
        test=accesses[cfg.training_accesses :],
        ideal=ideal,
        new_key=key_name(cfg.keys) if kind == "new_key" else None,
    )


def traces(cfg: Config) -> list[tuple[Kind, float]]:
    kinds: list[tuple[Kind, float]] = [("stationary", s) for s in cfg.exponents]
    kinds += [("drift", s) for s in cfg.exponents]
    kinds.append(("new_key", cfg.new_key_exponent))
    return kinds


# -- rankings --------------------------------------------------------------------------


class SimClock:
    """The simulated time the tracker reads."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def decayed_ranking(
    cfg: Config, trace: Trace, server: RedisProcess, half_life_s: float, timings: Timings
) -> list[str]:
    """Replay training through a real AccessTracker into Redis; the real top keys."""
    client = server.client()
    try:
        client.flushdb()
        clock = SimClock(START_S)
        settings = load_settings(
            redis_url=server.url(),
            decay_half_life=half_life_s,
            tracker_max_keys=cfg.tracker_max_keys,
            flush_interval=cfg.flush_every_s,
        )
        tracker = AccessTracker(settings, clock=clock)
        per_flush = max(1, round(cfg.flush_every_s * cfg.rate_per_s))
        rate = cfg.rate_per_s
        delivered = flushes = 0
        started = time.perf_counter()
        for i, key in enumerate(trace.training, 1):
            clock.now = START_S + (i - 1) / rate
            tracker.track(key)
            if i % per_flush == 0:
                clock.now = START_S + i / rate
                delivered += tracker.flush()
                flushes += 1
        clock.now = START_S + len(trace.training) / rate
        delivered += tracker.flush()
        flushes += 1
        if delivered != len(trace.training) or tracker.buffered():
            raise RuntimeError(
                f"the tracker delivered {delivered} of {len(trace.training)} accesses"
            )
        elapsed = time.perf_counter() - started
        timings.replay_s += elapsed
        timings.replayed_accesses += delivered
        timings.flushes += flushes
        label = f"{half_life_s:g}"
        timings.per_half_life_s[label] = timings.per_half_life_s.get(label, 0.0) + elapsed
        return [key for key, _ in CacheStore(client).top_keys(max(cfg.sizes))]
    finally:
        client.close()


def counts_ranking(training: Sequence[str], limit: int) -> list[str]:
    """Plain access counts, no decay; equal counts in first-seen order."""
    return [key for key, _ in Counter(training).most_common(limit)]


class SeedAccessCount:
    __slots__ = ("count", "frequency", "last_access")

    def __init__(self, now: int) -> None:
        self.count = 1
        self.last_access = now
        self.frequency = 0.0


class SeedTracker:
    """A faithful port of the seed's ``AccessTracker`` (seed/cache_warming.rs)."""

    def __init__(self) -> None:
        self.counts: dict[str, SeedAccessCount] = {}
        self.total_accesses = 0

    def record_access(self, key: str, now: int) -> None:
        """``now`` in whole seconds, as chrono's ``num_seconds`` truncates the gap."""
        self.total_accesses += 1
        entry = self.counts.get(key)
        if entry is None:
            self.counts[key] = SeedAccessCount(now)
            return
        entry.count += 1
        hours_since_last = (now - entry.last_access) / 3600.0
        if hours_since_last > 0.0:  # a read in the same second never updates frequency
            entry.frequency = entry.count / hours_since_last
        entry.last_access = now

    def top_keys(self, limit: int, rng: random.Random) -> list[str]:
        """By frequency, then count; remaining ties in ``HashMap`` (here: shuffled) order."""
        items = list(self.counts.items())
        rng.shuffle(items)
        items.sort(key=lambda kv: (kv[1].frequency, kv[1].count), reverse=True)
        return [key for key, _ in items[:limit]]


def seed_ranking(cfg: Config, trace: Trace) -> list[str]:
    seed = SeedTracker()
    start, rate = int(START_S), cfg.rate_per_s
    for i, key in enumerate(trace.training):
        seed.record_access(key, start + int(i / rate))
    return seed.top_keys(max(cfg.sizes), random.Random(f"{cfg.seed}:{trace.name}:seed"))


# -- evaluation ------------------------------------------------------------------------


def hit_ratio(test_counts: Counter[str], total: int, ranking: Sequence[str], n: int) -> float:
    return sum(test_counts.get(key, 0) for key in ranking[:n]) / total


def _rank_of(key: str | None, ranking: Sequence[str]) -> int | None:
    if key is None:
        return None
    try:
        return ranking.index(key) + 1
    except ValueError:
        return None


def evaluate_trace(
    cfg: Config, kind: Kind, exponent: float, server: RedisProcess, timings: Timings
) -> list[dict[str, Any]]:
    """The table rows of one trace, one per warm-set size."""
    started = time.perf_counter()
    trace = generate(cfg, kind, exponent)
    timings.generate_s += time.perf_counter() - started

    started = time.perf_counter()
    counts = counts_ranking(trace.training, max(cfg.sizes))
    timings.counts_s += time.perf_counter() - started
    started = time.perf_counter()
    seed = seed_ranking(cfg, trace)
    timings.seed_s += time.perf_counter() - started
    decayed = {f"{h:g}": decayed_ranking(cfg, trace, server, h, timings) for h in cfg.candidates}

    test_counts = Counter(trace.test)
    total = len(trace.test)
    rows = []
    for n in cfg.sizes:
        row: dict[str, Any] = {
            "trace": trace.name,
            "kind": kind,
            "exponent": exponent,
            "n": n,
            "ideal": hit_ratio(test_counts, total, trace.ideal, n),
            "counts": hit_ratio(test_counts, total, counts, n),
            "seed": hit_ratio(test_counts, total, seed, n),
            "decayed": {h: hit_ratio(test_counts, total, r, n) for h, r in decayed.items()},
        }
        if trace.new_key is not None:
            row["new_key_rank"] = {
                "ideal": _rank_of(trace.new_key, trace.ideal),
                "counts": _rank_of(trace.new_key, counts),
                "seed": _rank_of(trace.new_key, seed),
                "decayed": {h: _rank_of(trace.new_key, r) for h, r in decayed.items()},
            }
        rows.append(row)
    return rows


def figures(rows: Sequence[dict[str, Any]], half_life: str) -> dict[str, float | None]:
    """The worst cases for one half-life (ratios to the ideal; gains in points)."""

    def worst(values: list[float]) -> float | None:
        return min(values) if values else None

    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["kind"] == kind]

    def vs_ideal(r: dict[str, Any]) -> float:
        return float(r["decayed"][half_life] / r["ideal"]) if r["ideal"] else 1.0

    def gain(r: dict[str, Any], baseline: str) -> float:
        return float(100.0 * (r["decayed"][half_life] - r[baseline]))

    result = {
        "min_vs_ideal_stationary": worst([vs_ideal(r) for r in of("stationary")]),
        "min_vs_ideal_drift": worst([vs_ideal(r) for r in of("drift")]),
        "min_vs_ideal_new_key": worst([vs_ideal(r) for r in of("new_key")]),
        "min_gain_over_counts_drift": worst([gain(r, "counts") for r in of("drift")]),
        "min_gain_over_seed": worst([gain(r, "seed") for r in rows]),
    }
    ratios = [v for k, v in result.items() if k.startswith("min_vs_ideal") and v is not None]
    result["worst_vs_ideal"] = worst(ratios)
    return result


def goals_met(figs: dict[str, float | None]) -> dict[str, bool]:
    return {
        name: figs.get(name) is not None and check(float(figs[name] or 0.0))
        for name, (_, check) in GOALS.items()
    }


def evaluate(
    cfg: Config, server: RedisProcess, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run every trace; the table and the figures, as written to hit_ratio.json."""
    started = time.perf_counter()
    timings = Timings()
    rows: list[dict[str, Any]] = []
    for kind, exponent in traces(cfg):
        t0 = time.perf_counter()
        rows += evaluate_trace(cfg, kind, exponent, server, timings)
        if progress is not None:
            progress(f"{kind} s={exponent}: {time.perf_counter() - t0:.1f} s")
    by_half_life: dict[str, dict[str, Any]] = {}
    for h in cfg.candidates:
        figs = figures(rows, f"{h:g}")
        by_half_life[f"{h:g}"] = {**figs, "goals_met": all(goals_met(figs).values())}
    best = max(cfg.candidates, key=lambda h: by_half_life[f"{h:g}"]["worst_vs_ideal"] or 0.0)
    recommended = max(
        cfg.candidates,
        key=lambda h: (
            sum(goals_met(by_half_life[f"{h:g}"]).values()),
            by_half_life[f"{h:g}"]["worst_vs_ideal"] or 0.0,
        ),
    )
    default = f"{cfg.default_half_life_s:g}"
    run_s = time.perf_counter() - started
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": asdict(cfg),
        "default_half_life_s": cfg.default_half_life_s,
        **figures(rows, default),
        "goals": {name: target for name, (target, _) in GOALS.items()},
        "goals_met": goals_met(figures(rows, default)),
        "best_half_life_s": best,
        "best_half_life_rule": "maximises worst_vs_ideal (min over stationary, drift, new key)",
        "recommended_half_life_s": recommended,
        "recommended_half_life_rule": "meets the most goals, then maximises worst_vs_ideal",
        "by_half_life": by_half_life,
        "table": rows,
        "run_s": round(run_s, 1),
        "timings": {
            **{k: round(v, 2) for k, v in asdict(timings).items() if isinstance(v, float)},
            "replayed_accesses": timings.replayed_accesses,
            "flushes": timings.flushes,
            "replay_accesses_per_s": round(timings.replayed_accesses / timings.replay_s)
            if timings.replay_s
            else None,
            "per_half_life_s": {k: round(v, 2) for k, v in timings.per_half_life_s.items()},
        },
    }


# -- output ----------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


def format_table(result: dict[str, Any]) -> str:
    """The table and the figures as text."""
    default = f"{result['default_half_life_s']:g}"
    halves = list(result["by_half_life"])
    head = ["trace", "N", "ideal", "counts", "seed"]
    head += [f"h={h}" + ("*" if h == default else "") for h in halves]
    lines = [[*head]]
    for row in result["table"]:
        cells = [row["trace"], str(row["n"]), _pct(row["ideal"]), _pct(row["counts"])]
        cells += [_pct(row["seed"]), *(_pct(row["decayed"][h]) for h in halves)]
        lines.append(cells)
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    out = ["Hit ratio (%) of the test window against the warm set (* = default half-life, s)"]
    for line in lines:
        first = line[0].ljust(widths[0])
        out.append(
            "  ".join([first, *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True))])
        )
    new_key_rows = [r for r in result["table"] if "new_key_rank" in r]
    if new_key_rows:
        ranks = new_key_rows[0]["new_key_rank"]
        decayed = ", ".join(f"h={h}: {v}" for h, v in ranks["decayed"].items())
        out.append(
            f"new key's rank in each ranking: ideal {ranks['ideal']}, counts {ranks['counts']}, "
            f"seed {ranks['seed']}, decayed {decayed}"
        )
    out.append("")
    names = [
        ("min_vs_ideal_stationary", "vs ideal, stationary", "{:.4f}"),
        ("min_vs_ideal_drift", "vs ideal, drift", "{:.4f}"),
        ("min_vs_ideal_new_key", "vs ideal, new key", "{:.4f}"),
        ("min_gain_over_counts_drift", "gain over counts, drift (pts)", "{:+.2f}"),
        ("min_gain_over_seed", "gain over seed, all (pts)", "{:+.2f}"),
    ]
    label_w = max(len(label) for _, label, _ in names)
    out.append("Worst cases per half-life".ljust(label_w) + "".join(f"{h:>10}" for h in halves))
    for key, label, fmt in names:
        values = [result["by_half_life"][h][key] for h in halves]
        text = "".join(f"{'-' if v is None else fmt.format(v):>10}" for v in values)
        out.append(label.ljust(label_w) + text)
    met = "".join(
        f"{'yes' if result['by_half_life'][h]['goals_met'] else 'no':>10}" for h in halves
    )
    out.append("all goals met".ljust(label_w) + met)
    out.append("")
    out.append(f"best half-life (max worst-case vs ideal): {result['best_half_life_s']:g} s")
    out.append(
        "recommended (most goals met, then max worst-case): "
        f"{result['recommended_half_life_s']:g} s"
    )
    t = result["timings"]
    out.append(
        f"run {result['run_s']} s: replay {t['replay_s']} s "
        f"({t['replayed_accesses']:,} accesses, {t['flushes']:,} flushes, "
        f"{t['replay_accesses_per_s']:,}/s), generate {t['generate_s']} s, "
        f"seed {t['seed_s']} s, counts {t['counts_s']} s"
    )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.hit_ratio", description=__doc__)
    parser.add_argument(
        "--half-lives",
        default=",".join(f"{h:g}" for h in Config.half_lives_s),
        help="candidate half-lives in seconds, comma-separated",
    )
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    try:
        halves = tuple(float(h) for h in args.half_lives.split(",") if h.strip())
    except ValueError:
        parser.error(f"--half-lives={args.half_lives}: expected numbers, comma-separated")
    if not halves or min(halves) <= 0:
        parser.error("--half-lives: expected positive numbers")
    cfg = Config(half_lives_s=halves, seed=args.seed)
    with RedisProcess() as server:
        print(f"redis-server of our own on port {server.port}", file=sys.stderr)
        result = evaluate(cfg, server, progress=lambda m: print(m, file=sys.stderr))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(format_table(result))
    print(f"\nwritten to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
