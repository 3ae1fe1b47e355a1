"""Run records: a run's counts, its finished batches, its error sample, the history
and the totals (every field named in ``records``)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple, cast

from .. import constants as c
from ..maths.accounting import KIND_SLOTS
from ..records import (
    Count,
    Meta,
    Outcome,
    RunKeys,
    RunRecord,
    Total,
    TotalsField,
    count_field,
    run_keys,
)
from ..settings import DEFAULT_SOURCE
from .base import StoreBase, text
from .lock import lock_key

log = logging.getLogger(__name__)


class Warmed(NamedTuple):
    """What a batch did to the cache, for the accounting of each strategy."""

    code: int = 0  # the kind's code (maths.accounting.KIND_SLOTS)
    written: int = 0
    sample: Sequence[tuple[str | bytes, int]] = ()  # of the keys written: (key, ttl_s)
    written_at: float = 0.0  # when they were written (s)
    failed: int = 0
    superseded: int = 0  # left alone: the application wrote them while they loaded
    kept_stale: int = 0  # kept past expiry while the source failed


_NOTHING_WARMED = Warmed()


@dataclass(frozen=True)
class RunCount:
    """run_count.lua: count one finished batch into its run."""

    script: ClassVar[str] = "run_count"
    run_id: str
    index: int
    counts: Mapping[str, int]  # Count fields, and a source's share (count_field)
    errors: Sequence[str]  # the batch's error sample, JSON each
    now: float
    lock_token: str = ""  # the refresh lock the batch keeps ('' for none)
    source: str = DEFAULT_SOURCE  # whose refresh lock that is

    def key_names(self) -> list[str]:
        return [*run_keys(self.run_id), lock_key(self.source), c.OPEN_RUNS_KEY]

    def argv(self) -> list[Any]:
        fixed = [
            self.index,
            self.lock_token,
            c.REFRESH_LOCK_TTL_S * 1000,
            c.RUN_STATE_TTL_S,
            c.ERROR_SAMPLE_LEN,
            self.now,
            self.run_id,
            len(self.counts),
        ]
        pairs = [part for pair in self.counts.items() for part in pair]
        return [*fixed, *pairs, *self.errors]


@dataclass(frozen=True)
class Account:
    """account.lua: record the sample of keys one batch warmed."""

    script: ClassVar[str] = "account"
    warmed: Warmed
    now: float

    def key_names(self) -> list[str]:
        return [c.WARMED_KEY, c.ACCOUNT_KEY]

    def argv(self) -> list[Any]:
        w = self.warmed
        fixed = [
            w.code,
            w.written,
            c.WARMED_MAX_KEYS,
            w.written_at or self.now,
            self.now,
            KIND_SLOTS,
            w.failed,
            w.superseded,
            w.kept_stale,
        ]
        return [*fixed, *(part for pair in w.sample for part in pair)]


class RunCommands(StoreBase):
    """How a run's batches count themselves in, and how a finished run is recorded."""

    def _keys(self, run_id: str) -> RunKeys:
        return RunKeys(*map(self._own, run_keys(run_id)))

    def start_run(self, run_id: str, fields: Mapping[str, str | int | float]) -> None:
        """Open a run's record; re-opening a redelivered run keeps its counts."""
        record = self._keys(run_id).record
        pipe = self.client.pipeline()
        for name, value in fields.items():
            pipe.hsetnx(record, name, value)
        pipe.expire(record, c.RUN_STATE_TTL_S)
        pipe.zadd(self._own(c.OPEN_RUNS_KEY), {run_id: time.time()})
        pipe.execute()

    def note_dispatched(self, run_id: str, batches: int) -> None:
        """Dispatch got this far: progress, as a batch's report is."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(self._keys(run_id).record, Meta.DISPATCHED, batches)
        pipe.zadd(self._own(c.OPEN_RUNS_KEY), {run_id: time.time()}, xx=True)
        pipe.execute()

    def set_run_count(
        self, run_id: str, count: Count, value: int, source: str | None = None
    ) -> None:
        """Set a count the dispatcher owns, the run's or ``source``'s share of it
        (batches add to theirs with HINCRBY)."""
        self.client.hset(self._keys(run_id).record, count_field(count, source), value)

    def note_dispatch_error(self, run_id: str, reason: str) -> None:
        self.client.hset(self._keys(run_id).record, Meta.DISPATCH_ERROR, reason)

    def finish_dispatch(self, run_id: str, batches: int) -> bool:
        """Record the run's batch count; True if all of them had already finished.

        The first complete dispatch fixes the count: a redelivered dispatcher
        cannot change it.
        """
        keys = self._keys(run_id)
        return bool(self._run("dispatch_done", [keys.record, keys.done], [batches, time.time()]))

    def finish_batch(  # noqa: PLR0913, PLR0917 - a batch outcome has these parts
        self,
        run_id: str,
        index: int,
        counts: Mapping[str, int],
        errors: Iterable[Mapping[str, str]],
        lock_token: str = "",
        warmed: Warmed = _NOTHING_WARMED,
        source: str = DEFAULT_SOURCE,
    ) -> bool:
        """Count a batch into its run once; True when the whole run has finished.

        The first time a batch is counted, ``warmed`` goes into the accounting of
        what each strategy warmed and the application read.
        """
        shown = [json.dumps(e, ensure_ascii=False) for e in errors][: c.ERROR_SAMPLE_LEN]
        now = time.time()
        call = RunCount(run_id, index, counts, shown, now, lock_token=lock_token, source=source)
        complete, first = self._call(call)
        if first:
            # A sample for statistics: it must never keep a counted batch from
            # sending the run's body (a full cache refuses it; a lost reply skips it).
            try:
                self._account(warmed, now)
            except Exception as exc:
                log.warning(
                    "warming-tasks: the accounting sample of a batch was not recorded: %s", exc
                )
        return bool(complete)

    def _account(self, warmed: Warmed, now: float) -> None:
        counted = (warmed.written, warmed.failed, warmed.superseded, warmed.kept_stale)
        if any(counted) or warmed.sample:
            self._call(Account(warmed, now))

    def note_body_sent(self, run_id: str) -> None:
        """The run's body is on its way: no redelivered batch sends it again."""
        self.client.hset(self._keys(run_id).record, Meta.BODY_SENT, 1)

    def run_state(self, run_id: str) -> dict[str, str]:
        """The run's record as it is in Redis, and how many batches finished."""
        keys = self._keys(run_id)
        pipe = self.client.pipeline()
        pipe.hgetall(keys.record)
        pipe.zcard(keys.done)
        raw, done = pipe.execute()
        state = {text(k): text(v) for k, v in raw.items()}
        if state:
            state[Meta.BATCHES_DONE.value] = str(done)
        return state

    def run_record(self, run_id: str) -> RunRecord:
        return RunRecord.parse(self.run_state(run_id))

    def run_errors(self, run_id: str) -> list[dict[str, str]]:
        rows = self.client.lrange(self._keys(run_id).errors, 0, c.ERROR_SAMPLE_LEN - 1)
        return [json.loads(r) for r in cast(list[bytes], rows)]

    def close_run(self, run_id: str, summary: Mapping[str, Any], outcome: Outcome) -> bool:
        """Add a finished run to the history and the totals once; False if it was
        already there."""
        if not self.client.hsetnx(self._keys(run_id).record, Meta.RECORDED, 1):
            return False
        kind, source = summary["kind"], summary.get("source")

        def field(total: Total, outcome: Outcome | None = None) -> str:
            return str(TotalsField(total, kind, outcome, source))

        pipe = self.client.pipeline()
        pipe.lpush(self._own(c.RUNS_KEY), json.dumps(summary, ensure_ascii=False))
        pipe.ltrim(self._own(c.RUNS_KEY), 0, c.RUN_HISTORY_LEN - 1)
        pipe.zrem(self._own(c.OPEN_RUNS_KEY), run_id)
        totals = self._own(c.RUN_TOTALS_KEY)
        pipe.hincrby(totals, field(Total.RUNS, outcome), 1)
        finished_at = summary["started_at"] + summary["duration_s"]
        pipe.hset(
            totals,
            mapping={
                field(Total.FINISHED_AT): finished_at,
                field(Total.DURATION_S): summary["duration_s"],
            },
        )
        if outcome == Outcome.OK:  # the age of the last success is what an alert wants
            pipe.hset(totals, field(Total.SUCCEEDED_AT), finished_at)
        pipe.execute()
        return True

    def count_skipped(self, kind: str, source: str | None = None) -> None:
        """A run (of ``source``, or of all) that did not run (paused, switched off,
        overlapping), for the totals."""
        skipped = TotalsField(Total.RUNS, kind, Outcome.SKIPPED, source)
        self.client.hincrby(self._own(c.RUN_TOTALS_KEY), str(skipped), 1)

    def run_totals(self) -> dict[str, float]:
        """The run totals as stored (``records.TotalsField`` reads their names)."""
        raw = cast(dict[bytes, bytes], self.client.hgetall(self._own(c.RUN_TOTALS_KEY)))
        return {text(k): float(v) for k, v in raw.items()}

    def stalled_runs(self, since_s: float) -> list[str]:
        """Open runs whose last progress is older than ``since_s``."""
        rows = self.client.zrangebyscore(self._own(c.OPEN_RUNS_KEY), "-inf", f"({since_s}")
        return [text(r) for r in cast(list[bytes], rows)]

    def close_stalled(self, run_id: str, since_s: float) -> bool:
        """Close a run with no progress since ``since_s``, its unreported batches
        ``lost``; True when the caller must send its body."""
        run = self._keys(run_id)
        keys = [run.record, run.done, self._own(c.OPEN_RUNS_KEY)]
        return bool(self._run("close_stalled", keys, [run_id, time.time(), since_s]))

    def recent_runs(self, limit: int = 10) -> list[dict[str, Any]]:
        rows = self.client.lrange(self._own(c.RUNS_KEY), 0, limit - 1)
        return [json.loads(r) for r in cast(list[bytes], rows)]
