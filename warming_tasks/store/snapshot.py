"""Everything the metrics show, read in one round trip whatever the key count."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import constants as c
from .base import StoreBase, text
from .listen import ListenState


@dataclass(frozen=True)
class Snapshot:
    """The suite's records at one moment, as the Prometheus exporter reads them."""

    account: dict[str, int]  # ``warmed|failed|sampled|read|expired:<kind code>``
    totals: dict[str, float]  # as stored: records.parse_totals reads their names
    hits: int
    misses: int
    tracked_keys: int
    open_runs: int
    paused: bool
    # ``warming-tasks listen``: its counters (None: no listener ever ran on this
    # cache), and whether one beats now.
    listen: ListenState | None = None
    listen_up: bool = False


class SnapshotCommands(StoreBase):
    def snapshot(self) -> Snapshot:
        """Eight O(1) or small-hash reads in one pipeline."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hgetall(self._own(c.ACCOUNT_KEY))
        pipe.hgetall(self._own(c.RUN_TOTALS_KEY))
        pipe.hmget(self._own(c.READS_KEY), "hits", "misses")
        pipe.zcard(self._own(c.FREQUENCY_KEY))
        pipe.zcard(self._own(c.OPEN_RUNS_KEY))
        pipe.exists(self._own(c.PAUSED_KEY))
        pipe.hgetall(self._own(c.LISTEN_KEY))
        pipe.exists(self._own(c.LISTEN_ALIVE_KEY))
        replies = pipe.execute()
        account, totals, (hits, misses), tracked, open_runs, paused = replies[:6]
        listen, listen_up = replies[6:]
        return Snapshot(
            account=_numbers(account, int),
            totals=_numbers(totals, float),
            hits=int(hits or 0),
            misses=int(misses or 0),
            tracked_keys=int(tracked),
            open_runs=int(open_runs),
            paused=bool(paused),
            listen=ListenState.parse(listen) if listen else None,
            listen_up=bool(listen_up),
        )


def _numbers(raw: dict[Any, Any], kind: type[int] | type[float]) -> Any:
    return {text(k): kind(v) for k, v in raw.items()}
