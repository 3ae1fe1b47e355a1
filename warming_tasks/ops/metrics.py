"""``warming-tasks metrics``: Prometheus' text format, read from the suite's records
in Redis at every scrape, so it counts every worker's work whichever process did
it. Label values are strategies, kinds and outcomes: never keys."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..kinds import Kind
from ..maths.accounting import accounts
from ..records import Outcome, Total, TotalsField, parse_totals
from ..store import CacheStore, Snapshot
from ..store.listen import ListenState

log = logging.getLogger(__name__)

OUTCOMES = tuple(o.value for o in Outcome)
# The ``source`` label of runs that covered every source.
ALL_LABEL = "all"


class WarmingCollector(Collector):
    """Every series from one snapshot of the cache Redis (one round trip)."""

    def __init__(self, store: CacheStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("warming_cache_up", "1 if the cache Redis answered this scrape.")
        started = time.perf_counter()
        try:
            snap = self.store.snapshot()
        except redis.RedisError as exc:
            log.warning("warming-tasks metrics: cannot read the cache Redis: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from series(snap)
        yield from listen_series(snap)
        took = GaugeMetricFamily(
            "warming_scrape_duration_seconds", "How long this scrape took to read Redis."
        )
        took.add_metric([], time.perf_counter() - started)
        yield took


def series(snap: Snapshot) -> Iterator[Metric]:
    """The suite's series from a snapshot: counts per strategy, runs per kind."""
    warmed = CounterMetricFamily(
        "warming_keys_warmed", "Keys written to the cache, per strategy.", labels=["strategy"]
    )
    failed = CounterMetricFamily(
        "warming_keys_failed",
        "Keys that failed to load or write, per strategy.",
        labels=["strategy"],
    )
    superseded = CounterMetricFamily(
        "warming_keys_superseded",
        "Keys left alone because the application wrote them while a batch loaded them.",
        labels=["strategy"],
    )
    kept_stale = CounterMetricFamily(
        "warming_keys_kept_stale",
        "Keys a refresh kept past expiry because the source could not reload them.",
        labels=["strategy"],
    )
    share = GaugeMetricFamily(
        "warming_read_before_expiry_ratio",
        "Of the sampled warmed keys that settled, the share the application read before expiry.",
        labels=["strategy"],
    )
    for row in accounts(snap.account):
        warmed.add_metric([row.strategy], row.warmed)
        failed.add_metric(
            [row.strategy], snap.account.get(f"failed:{Kind.named(row.strategy).code}", 0)
        )
        superseded.add_metric([row.strategy], row.superseded)
        kept_stale.add_metric([row.strategy], row.kept_stale)
        if row.read_share is not None:
            share.add_metric([row.strategy], row.read_share)
    yield from (warmed, failed, superseded, kept_stale, share)

    runs = CounterMetricFamily(
        "warming_runs",
        "Runs that ended, per kind, outcome and source (all: a run of every source).",
        labels=["kind", "outcome", "source"],
    )
    duration = GaugeMetricFamily(
        "warming_run_duration_seconds",
        "How long the last run of each kind and source took.",
        labels=["kind", "source"],
    )
    finished = GaugeMetricFamily(
        "warming_last_run_finished_timestamp_seconds",
        "When the last run of each kind and source ended (Unix time).",
        labels=["kind", "source"],
    )
    succeeded = GaugeMetricFamily(
        "warming_last_success_timestamp_seconds",
        "When the last run of each kind and source that warmed all it meant to ended (Unix time).",
        labels=["kind", "source"],
    )
    totals = parse_totals(snap.totals)
    scopes = {None, *(field.source for field in totals)}
    for source in sorted(scopes, key=lambda s: s or ""):
        label = source or ALL_LABEL
        for kind in Kind:
            for outcome in Outcome:
                count = totals.get(TotalsField(Total.RUNS, kind.value, outcome, source), 0)
                if source is None or count:
                    runs.add_metric([kind.value, outcome.value, label], count)
            last = TotalsField(Total.FINISHED_AT, kind.value, source=source)
            if last in totals:
                took = TotalsField(Total.DURATION_S, kind.value, source=source)
                finished.add_metric([kind.value, label], totals[last])
                duration.add_metric([kind.value, label], totals[took])
            success = TotalsField(Total.SUCCEEDED_AT, kind.value, source=source)
            if success in totals:
                succeeded.add_metric([kind.value, label], totals[success])
    yield from (runs, duration, finished, succeeded)

    hit_ratio = GaugeMetricFamily(
        "warming_cache_hit_ratio", "The application's tracked reads that hit the cache."
    )
    if snap.hits + snap.misses:
        hit_ratio.add_metric([], snap.hits / (snap.hits + snap.misses))
    yield hit_ratio
    for name, doc, value in (
        ("warming_tracked_keys", "Keys in the access-frequency set.", snap.tracked_keys),
        ("warming_runs_open", "Runs started and not yet closed.", snap.open_runs),
        ("warming_paused", "1 while warming is paused.", int(snap.paused)),
    ):
        gauge = GaugeMetricFamily(name, doc)
        gauge.add_metric([], value)
        yield gauge


def listen_series(snap: Snapshot) -> Iterator[Metric]:
    """``warming-tasks listen``'s series, once a listener has run on this cache (a site
    that does not use it sees none)."""
    if snap.listen is None and not snap.listen_up:
        return
    up = GaugeMetricFamily(
        "warming_listen_up", "1 while a key-miss listener holds its heartbeat (counts misses)."
    )
    up.add_metric([], int(snap.listen_up))
    yield up
    counts = snap.listen or ListenState()
    for name, doc, value in (
        (
            "warming_listen_misses",
            "Key misses Redis reported that the listener counted into the access ranking.",
            counts.counted,
        ),
        (
            "warming_listen_ignored",
            "Key-miss notifications of keys that are not the application's (other prefixes, "
            "the suite's own keys).",
            counts.ignored,
        ),
        (
            "warming_listen_lost",
            "Key misses estimated lost: no listener ran, or notifications were off "
            "(from Redis' keyspace_misses, an upper bound).",
            counts.lost,
        ),
    ):
        counter = CounterMetricFamily(name, doc)
        counter.add_metric([], value)
        yield counter


def registry_for(store: CacheStore) -> CollectorRegistry:
    """A registry with the suite's series alone (this process' own are not the fleet's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WarmingCollector(store))
    return registry


def serve(
    store: CacheStore, host: str, port: int, on_listening: Callable[[], None] | None = None
) -> None:
    """Serve ``/metrics`` on ``host:port`` until interrupted."""
    server, thread = start_http_server(port, addr=host, registry=registry_for(store))
    if on_listening is not None:
        on_listening()
    try:
        while thread.is_alive():
            thread.join(1.0)
    finally:
        server.shutdown()
