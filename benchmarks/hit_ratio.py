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
- count_per_hour (column ``cnt/h``): a key's count divided by the hours since its
  previous access, with whole-second timestamps and the flaw that comes with them
  (reads within the same second as the previous one never update the frequency),
  ties broken by count and then in a seeded random order (as iterating a hash map
  gives).

Results go to ``benchmarks/results/<date>-hit-ratio.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import itertools
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

from .results import save

START_S = 1_700_000_000.0  # simulated wall-clock time of the first access
# How often a replay with predictive loads runs one (WARMING_PREDICTIVE_INTERVAL).
LOAD_EVERY_S = 300.0
Kind = Literal["stationary", "drift", "new_key", "file"]

# The goals of auto, the default.
GOALS: dict[str, tuple[str, Callable[[float], bool]]] = {
    "min_vs_hindsight_best": (">= 0.99", lambda v: v >= 0.99),
    "min_vs_ideal_stationary": (">= 0.98", lambda v: v >= 0.98),
    "min_vs_ideal_drift": (">= 0.925", lambda v: v >= 0.925),
    "mean_gain_over_counts_drift": (">= 2 points", lambda v: v >= 2.0),
    "min_gain_over_counts_stationary": (">= -0.2 points", lambda v: v >= -0.2),
    "min_gain_over_count_per_hour": ("> 0 points", lambda v: v > 0.0),
}


@dataclass(frozen=True)
class Config:
    """What to generate and what to measure; the defaults are the evaluation docs/effectiveness.md
    reports."""

    keys: int = 100_000
    window_accesses: int = 200_000
    rate_per_s: float = 500.0
    training_windows: int = 3
    exponents: tuple[float, ...] = (0.8, 1.0, 1.2)
    drift_top: int = 2_000  # the ranks that drift
    drift_share: float = 0.3  # of them replaced per window
    new_key_exponent: float = 1.0
    sizes: tuple[int, ...] = (1_000, 10_000)
    # The grid the best fixed half-life in hindsight is chosen from.
    half_lives_s: tuple[float, ...] = (
        30.0, 60.0, 120.0, 240.0, 300.0, 480.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0
    )  # fmt: skip
    synthetic: bool = True  # evaluate the generated traces (else only files)
    flush_every_s: float = 5.0
    tracker_max_keys: int = 100_000
    seed: int = 9

    @property
    def training_accesses(self) -> int:
        return self.window_accesses * self.training_windows


@dataclass
class Trace:
    name: str
    kind: Kind
    exponent: float
    training: list[str]
    test: list[str]
    ideal: list[str]  # the true ranking at the end of training, top max(sizes)
    training_at: list[float]  # each training access's time (s)
    training_end: float  # when training ends and the warm set is picked
    new_key: str | None = None


@dataclass(frozen=True)
class Ranked:
    keys: list[str]  # best first
    half_life_s: float | None = None  # auto's at the end of training


@dataclass
class Timings:
    generate_s: float = 0.0
    counts_s: float = 0.0
    count_per_hour_s: float = 0.0
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
    new_key = key_name(cfg.keys) if kind == "new_key" else None
    return timed_trace(cfg, name, kind, exponent, accesses, ideal, new_key)


def timed_trace(  # noqa: PLR0913, PLR0917 - a trace's parts
    cfg: Config,
    name: str,
    kind: Kind,
    exponent: float,
    accesses: list[str],
    ideal: list[str],
    new_key: str | None = None,
) -> Trace:
    """``accesses`` at ``cfg.rate_per_s`` from ``START_S``, split into training and the
    test window."""
    return Trace(
        name=name,
        kind=kind,
        exponent=exponent,
        training=accesses[: cfg.training_accesses],
        test=accesses[cfg.training_accesses :],
        ideal=ideal,
        training_at=[START_S + i / cfg.rate_per_s for i in range(cfg.training_accesses)],
        training_end=START_S + cfg.training_accesses / cfg.rate_per_s,
        new_key=new_key,
    )


def read_trace(path: Path, test_share: float) -> Trace:
    """A trace from a file: one access per line, ``timestamp key`` (seconds, any
    origin), in time order. The last ``test_share`` of its time span is the test
    window; the ideal is then the test window's own top keys (the best any warm
    set could have been)."""
    accesses: list[tuple[float, str]] = []
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split(maxsplit=1)
            try:
                accesses.append((float(fields[0]), fields[1].strip()))
            except (ValueError, IndexError):
                raise SystemExit(
                    f"{path}:{number}: expected 'timestamp key', got {line!r}"
                ) from None
    if len(accesses) < 2:
        raise SystemExit(f"{path}: expected at least two accesses")
    accesses.sort(key=lambda a: a[0])
    first, last = accesses[0][0], accesses[-1][0]
    split = last - test_share * (last - first)
    training = [a for a in accesses if a[0] < split]
    test = [key for t, key in accesses if t >= split]
    return Trace(
        name=path.name,
        kind="file",
        exponent=0.0,
        training=[key for _, key in training],
        test=test,
        ideal=[key for key, _ in Counter(test).most_common()],
        training_at=[t for t, _ in training],
        training_end=split,
    )


def traces(cfg: Config) -> list[tuple[Kind, float]]:
    if not cfg.synthetic:
        return []
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


def decayed_ranking(  # noqa: PLR0913 - one replay: what, where, how, for which N
    cfg: Config,
    trace: Trace,
    server: RedisProcess,
    half_life: float | str,
    timings: Timings,
    *,
    limit: int = 1000,
    loads: int | None = None,
) -> Ranked:
    """Replay training through a real AccessTracker into Redis; the real top keys
    (with ``auto``, for ``predictive_load(limit)``: auto's evidence is about that N).
    ``loads``: the N a predictive load reads every ``LOAD_EVERY_S`` of the trace,
    which ``auto`` tunes for once the first has run (the setting's N until then)."""
    client = server.client()
    try:
        client.flushdb()
        at = trace.training_at
        clock = SimClock(at[0] if at else START_S)
        settings = load_settings(
            redis_url=server.url(),
            decay_half_life=half_life,
            tracker_max_keys=cfg.tracker_max_keys,
            flush_interval=cfg.flush_every_s,
            predictive_limit=limit,
        )
        tracker = AccessTracker(settings, clock=clock)
        delivered = flushes = 0
        started = time.perf_counter()
        next_flush = clock.now + cfg.flush_every_s
        next_load = clock.now + LOAD_EVERY_S
        store = CacheStore(client)
        for key, t in zip(trace.training, at, strict=True):
            while t >= next_flush:
                clock.now = next_flush
                delivered += tracker.flush()
                flushes += 1
                next_flush += cfg.flush_every_s
                if loads is not None and clock.now >= next_load:
                    store.note_warm_set(loads)  # what predictive_load(limit=loads) tells auto
                    next_load += LOAD_EVERY_S
            clock.now = t
            tracker.track(key)
        clock.now = trace.training_end
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
        label = half_life if isinstance(half_life, str) else f"{half_life:g}"
        timings.per_half_life_s[label] = timings.per_half_life_s.get(label, 0.0) + elapsed
        belief = store.belief()
        return Ranked(
            keys=[key for key, _ in store.top_keys(max(cfg.sizes))],
            half_life_s=None if belief is None else belief.half_life_s,
        )
    finally:
        client.close()


def counts_ranking(training: Sequence[str], limit: int) -> list[str]:
    """Plain access counts, no decay; equal counts in first-seen order."""
    return [key for key, _ in Counter(training).most_common(limit)]


class CountPerHourEntry:
    __slots__ = ("count", "frequency", "last_access")

    def __init__(self, now: int) -> None:
        self.count = 1
        self.last_access = now
        self.frequency = 0.0


class CountPerHourTracker:
    """Ranks keys by their count divided by the hours since their previous access, in
    whole seconds: a naive frequency, kept with its flaw as a baseline for decay."""

    def __init__(self) -> None:
        self.counts: dict[str, CountPerHourEntry] = {}
        self.total_accesses = 0

    def record_access(self, key: str, now: int) -> None:
        """``now`` in whole seconds, as chrono's ``num_seconds`` truncates the gap."""
        self.total_accesses += 1
        entry = self.counts.get(key)
        if entry is None:
            self.counts[key] = CountPerHourEntry(now)
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


def count_per_hour_ranking(cfg: Config, trace: Trace) -> list[str]:
    tracker = CountPerHourTracker()
    for key, at in zip(trace.training, trace.training_at, strict=True):
        tracker.record_access(key, int(at))
    # The random seed's text is as the recorded results were made with: another would
    # break ties in another order.
    rng = random.Random(f"{cfg.seed}:{trace.name}:seed")
    return tracker.top_keys(max(cfg.sizes), rng)


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
    cfg: Config, trace: Trace, server: RedisProcess, timings: Timings
) -> list[dict[str, Any]]:
    """The table rows of one trace, one per warm-set size."""
    started = time.perf_counter()
    counts = counts_ranking(trace.training, max(cfg.sizes))
    timings.counts_s += time.perf_counter() - started
    started = time.perf_counter()
    per_hour = count_per_hour_ranking(cfg, trace)
    timings.count_per_hour_s += time.perf_counter() - started
    decayed = {
        f"{h:g}": decayed_ranking(cfg, trace, server, h, timings).keys for h in cfg.half_lives_s
    }
    auto = {n: decayed_ranking(cfg, trace, server, "auto", timings, limit=n) for n in cfg.sizes}

    test_counts = Counter(trace.test)
    total = len(trace.test)
    rows = []
    for n in cfg.sizes:
        by_half_life = {h: hit_ratio(test_counts, total, r, n) for h, r in decayed.items()}
        best = max(by_half_life, key=by_half_life.__getitem__)
        row: dict[str, Any] = {
            "trace": trace.name,
            "kind": trace.kind,
            "exponent": trace.exponent,
            "n": n,
            "ideal": hit_ratio(test_counts, total, trace.ideal, n),
            "counts": hit_ratio(test_counts, total, counts, n),
            "count_per_hour": hit_ratio(test_counts, total, per_hour, n),
            "decayed": by_half_life,
            "hindsight": by_half_life[best],
            "hindsight_half_life_s": float(best),
            "auto": hit_ratio(test_counts, total, auto[n].keys, n),
            "auto_half_life_s": auto[n].half_life_s,
        }
        if trace.new_key is not None:
            row["new_key_rank"] = {
                "ideal": _rank_of(trace.new_key, trace.ideal),
                "counts": _rank_of(trace.new_key, counts),
                "count_per_hour": _rank_of(trace.new_key, per_hour),
                "auto": _rank_of(trace.new_key, auto[n].keys),
            }
        rows.append(row)
    return rows


def figures(rows: Sequence[dict[str, Any]], ranking: str = "auto") -> dict[str, float | None]:
    """The worst cases of one ranking (``auto``, or a half-life of the grid): ratios
    to the ideal and to the best fixed half-life in hindsight; gains in points."""

    def of(kind: str) -> list[dict[str, Any]]:
        return [r for r in rows if r["kind"] == kind]

    def value(r: dict[str, Any]) -> float:
        return float(r["auto"] if ranking == "auto" else r["decayed"][ranking])

    def vs(r: dict[str, Any], baseline: str) -> float:
        return value(r) / r[baseline] if r[baseline] else 1.0

    def gain(r: dict[str, Any], baseline: str) -> float:
        return float(100.0 * (value(r) - r[baseline]))

    def worst(values: list[float]) -> float | None:
        return min(values) if values else None

    drift = [gain(r, "counts") for r in of("drift")]
    return {
        "min_vs_ideal_stationary": worst([vs(r, "ideal") for r in of("stationary")]),
        "min_vs_ideal_drift": worst([vs(r, "ideal") for r in of("drift")]),
        "min_vs_ideal_new_key": worst([vs(r, "ideal") for r in of("new_key")]),
        "min_vs_hindsight_best": worst([vs(r, "hindsight") for r in rows]),
        "mean_gain_over_counts_drift": sum(drift) / len(drift) if drift else None,
        "min_gain_over_counts_stationary": worst([gain(r, "counts") for r in of("stationary")]),
        "min_gain_over_count_per_hour": worst([gain(r, "count_per_hour") for r in rows]),
    }


def goals_met(figs: dict[str, float | None]) -> dict[str, bool]:
    return {
        name: figs.get(name) is not None and check(float(figs[name] or 0.0))
        for name, (_, check) in GOALS.items()
    }


def evaluate(
    cfg: Config,
    server: RedisProcess,
    progress: Callable[[str], None] | None = None,
    files: Sequence[Path] = (),
    test_share: float = 0.25,
) -> dict[str, Any]:
    """Run every trace; the table and the figures, as written to hit_ratio.json."""
    started = time.perf_counter()
    timings = Timings()
    rows: list[dict[str, Any]] = []
    pending: list[Callable[[], Trace]] = [
        functools.partial(generate, cfg, kind, exponent) for kind, exponent in traces(cfg)
    ]
    pending += [functools.partial(read_trace, path, test_share) for path in files]
    for make in pending:
        t0 = time.perf_counter()
        trace = make()
        timings.generate_s += time.perf_counter() - t0
        rows += evaluate_trace(cfg, trace, server, timings)
        if progress is not None:
            progress(f"{trace.name}: {time.perf_counter() - t0:.1f} s")
    figs = figures(rows)
    run_s = time.perf_counter() - started
    return {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "config": asdict(cfg),
        **figs,
        "goals": {name: target for name, (target, _) in GOALS.items()},
        "goals_met": goals_met(figs),
        "by_half_life": {f"{h:g}": figures(rows, f"{h:g}") for h in cfg.half_lives_s},
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


def _columns(lines: list[list[str]]) -> list[str]:
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(
            [
                line[0].ljust(widths[0]),
                *(c.rjust(w) for c, w in zip(line[1:], widths[1:], strict=True)),
            ]
        )
        for line in lines
    ]


def format_table(result: dict[str, Any]) -> str:
    """The table and the figures as text."""
    halves = list(result["by_half_life"])
    head = ["trace", "N", "ideal", "counts", "cnt/h", "best fixed (h)", "auto (h now)"]
    lines = [head]
    for row in result["table"]:
        auto_h = row["auto_half_life_s"]
        lines.append(
            [
                row["trace"],
                str(row["n"]),
                _pct(row["ideal"]),
                _pct(row["counts"]),
                _pct(row["count_per_hour"]),
                f"{_pct(row['hindsight'])} ({row['hindsight_half_life_s']:g})",
                f"{_pct(row['auto'])} ({'-' if auto_h is None else f'{auto_h:g}'})",
            ]
        )
    out = ["Hit ratio (%) of the test window against the warm set; half-lives in s"]
    out += _columns(lines)
    out.append("")
    out.append("Fixed half-lives (hit ratio %):")
    grid = [["trace", "N", *(f"h={h}" for h in halves)]]
    for row in result["table"]:
        grid.append([row["trace"], str(row["n"]), *(_pct(row["decayed"][h]) for h in halves)])
    out += _columns(grid)
    out.append("")
    names = [
        ("min_vs_ideal_stationary", "{:.4f}"),
        ("min_vs_ideal_drift", "{:.4f}"),
        ("min_vs_ideal_new_key", "{:.4f}"),
        ("min_vs_hindsight_best", "{:.4f}"),
        ("mean_gain_over_counts_drift", "{:+.2f} pts"),
        ("min_gain_over_counts_stationary", "{:+.2f} pts"),
        ("min_gain_over_count_per_hour", "{:+.2f} pts"),
    ]
    for key, fmt in names:
        value = result[key]
        goal = result["goals"].get(key)
        met = (
            ""
            if goal is None
            else f"  goal {goal}: {'met' if result['goals_met'][key] else 'MISSED'}"
        )
        out.append(f"{key:<34}{'-' if value is None else fmt.format(value)}{met}")
    t = result["timings"]
    out.append("")
    out.append(
        f"run {result['run_s']} s: replay {t['replay_s']} s "
        f"({t['replayed_accesses']:,} accesses, {t['flushes']:,} flushes, "
        f"{t['replay_accesses_per_s']:,}/s), generate {t['generate_s']} s, "
        f"count/h {t['count_per_hour_s']} s, counts {t['counts_s']} s"
    )
    return "\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.hit_ratio",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--half-lives",
        default=",".join(f"{h:g}" for h in Config.half_lives_s),
        help="the fixed half-lives (s) the best in hindsight is chosen from, comma-separated",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        action="append",
        default=[],
        help="also evaluate this file: one access per line, 'timestamp key' (repeatable)",
    )
    parser.add_argument("--only-files", action="store_true", help="evaluate only the --trace files")
    parser.add_argument(
        "--test-share",
        type=float,
        default=0.25,
        help="share of a file trace's time span that is its test window (default 0.25)",
    )
    parser.add_argument("--seed", type=int, default=Config.seed)
    parser.add_argument("--out", type=Path, default=None, help="default: a dated result file")
    args = parser.parse_args(argv)
    try:
        halves = tuple(float(h) for h in args.half_lives.split(",") if h.strip())
    except ValueError:
        parser.error(f"--half-lives={args.half_lives}: expected numbers, comma-separated")
    if not halves or min(halves) <= 0:
        parser.error("--half-lives: expected positive numbers")
    if not 0 < args.test_share < 1:
        parser.error(f"--test-share={args.test_share}: expected a share between 0 and 1")
    cfg = Config(half_lives_s=halves, seed=args.seed, synthetic=not args.only_files)
    with RedisProcess() as server:
        print(f"redis-server of our own on port {server.port}", file=sys.stderr)
        result = evaluate(
            cfg,
            server,
            progress=lambda m: print(m, file=sys.stderr),
            files=args.trace,
            test_share=args.test_share,
        )
    written = save(result, "hit-ratio", args.out)
    print(format_table(result))
    print(f"\nwritten to {written}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
