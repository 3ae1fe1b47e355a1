"""What refresh's ``skipped_unread`` saves: source loads spent by refresh against
the hit ratio kept, without skipping and skipping keys unread for a while.

    python -m benchmarks.refresh_savings

The application reads a drifting Zipf trace (see ``benchmarks.hit_ratio``)
through a cache-aside cache: a read of a key that is not cached (or has expired)
is a miss, after which the application loads it and caches it for ``ttl_s``. Its
reads go through a real ``AccessTracker`` into our own redis-server. The hot keys
are the source's whole catalogue (every key the trace starts with), preloaded;
every ``interval_s`` a refresh tick reloads the hot keys with under
``threshold_s`` left and, with ``WARMING_REFRESH_UNREAD_AFTER`` set, asks
``warmer.read_floor`` and the frequency set, as the refresh task does, which of
them are still read. The cache's clock is simulated, so the cache itself is
modelled here; the decision is the suite's own code.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.maths.expiry import in_refresh_window
from warming_tasks.settings import Settings, load_settings
from warming_tasks.store import CacheStore
from warming_tasks.tracker import AccessTracker
from warming_tasks.warmer import read_floor

from .hit_ratio import START_S, Config, generate, key_name
from .results import save

DEFAULT_S = Settings.model_fields["refresh_unread_after"].default


@dataclass(frozen=True)
class Scenario:
    # 800,000 reads over 6,400 s: ten lifetimes of a key.
    trace: Config = field(default_factory=lambda: Config(rate_per_s=125.0))
    exponent: float = 1.0
    hot_keys: int = 100_000  # the source's hot keys: its whole catalogue, preloaded
    ttl_s: int = 600
    interval_s: float = 60.0
    threshold_s: int = 300
    flush_every_s: float = 5.0


def simulate(scenario: Scenario, server: RedisProcess, unread_after_s: float) -> dict[str, Any]:
    client = server.client()
    client.flushdb()
    cfg = scenario.trace
    trace = generate(cfg, "drift", scenario.exponent)
    reads = trace.training + trace.test
    settings = load_settings(
        redis_url=server.url(),
        refresh_threshold=scenario.threshold_s,
        refresh_unread_after=unread_after_s,
        flush_interval=scenario.flush_every_s,
    )
    now = START_S
    tracker = AccessTracker(settings, clock=lambda: now)
    store = CacheStore(client)
    hot = [key_name(i) for i in range(scenario.hot_keys)]
    expires = dict.fromkeys(hot, now + scenario.ttl_s)  # preloaded
    hits = misses = refresh_loads = skipped = 0
    next_flush, next_tick = now + scenario.flush_every_s, now + scenario.interval_s
    for i, key in enumerate(reads):
        now = START_S + i / cfg.rate_per_s
        if now >= next_flush:
            tracker.flush()
            next_flush += scenario.flush_every_s
        if now >= next_tick:
            floor = read_floor(store, settings, now)
            due = [
                k for k in hot if in_refresh_window(_pttl(expires, k, now), scenario.threshold_s)
            ]
            if floor is not None and due:
                scores = store.frequency_scores(due)
                kept = [k for k, s in zip(due, scores, strict=True) if s is not None and s >= floor]
                skipped += len(due) - len(kept)
                due = kept
            for k in due:
                expires[k] = now + scenario.ttl_s
            refresh_loads += len(due)
            next_tick += scenario.interval_s
        tracker.track(key)
        if expires.get(key, 0.0) > now:
            hits += 1
        else:
            misses += 1
            expires[key] = now + scenario.ttl_s  # the application caches what it loaded
    client.close()
    return {
        "refresh_loads": refresh_loads,
        "skipped_unread": skipped,
        "hit_ratio": hits / (hits + misses),
        "application_loads": misses,
    }


def _pttl(expires: dict[str, float], key: str, now: float) -> int:
    at = expires.get(key)
    return -2 if at is None or at <= now else int((at - now) * 1000)


def evaluate(
    server: RedisProcess,
    scenario: Scenario | None = None,
    windows_s: tuple[float, ...] = (600.0, 3600.0, 14_400.0),
) -> dict[str, Any]:
    """Refresh without skipping, then skipping keys unread for each of ``windows_s``
    (``WARMING_REFRESH_UNREAD_AFTER``; the default is 3600 s)."""
    scenario = scenario or Scenario()
    without = simulate(scenario, server, unread_after_s=0)
    rows = []
    for window in windows_s:
        run = simulate(scenario, server, unread_after_s=window)
        rows.append(
            {
                "unread_after_s": window,
                **run,
                "refresh_loads_saved_share": 1 - run["refresh_loads"] / without["refresh_loads"],
                "hit_ratio_points_lost": 100 * (without["hit_ratio"] - run["hit_ratio"]),
                "all_loads_saved_share": 1
                - (run["refresh_loads"] + run["application_loads"])
                / (without["refresh_loads"] + without["application_loads"]),
            }
        )
    return {
        "scenario": {k: v for k, v in dataclasses.asdict(scenario).items() if k != "trace"},
        "without": without,
        "with": rows,
        "default": next((r for r in rows if r["unread_after_s"] == DEFAULT_S), None),
    }


def describe(result: dict[str, Any]) -> str:
    w = result["without"]
    lines = [
        "refresh of a 100,000-key catalogue, skipping unread keys or not "
        "(a drifting Zipf trace, 800,000 reads over 6,400 s, TTL 600 s):",
        f"  never skip: {w['refresh_loads']:>9,} refresh loads, hit ratio {w['hit_ratio']:.2%}, "
        f"{w['application_loads']:,} loads by the application after a miss",
    ]
    for r in result["with"]:
        mark = " (default)" if r["unread_after_s"] == DEFAULT_S else ""
        lines.append(
            f"  unread {r['unread_after_s']:>6g} s: {r['refresh_loads']:>9,} refresh loads "
            f"(-{r['refresh_loads_saved_share']:.1%}), hit ratio {r['hit_ratio']:.2%} "
            f"(-{r['hit_ratio_points_lost']:.2f} pts), all source loads "
            f"-{r['all_loads_saved_share']:.1%}{mark}"
        )
    return "\n".join(lines)


def main() -> int:
    with RedisProcess() as server:
        result = evaluate(server)
    print(describe(result))
    print(f"written to {save(result, 'refresh-savings')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
