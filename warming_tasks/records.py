"""The run protocol's schema: the fields of a run's record, its counts apart from
the fields that say how the run goes, and the fields of the run totals.

A run's record is one Redis hash that the dispatcher, every batch, the closer of
stalled runs, ``cancel`` and four Lua scripts write, and that the summary, the
CLI's progress and a batch's stand-down check read; the totals hash is written as
each run ends and read by the metrics. Their names are contract (workers of
another version and outside tools read them), so they are named here once: writers
build names with this module and readers parse through it. The Lua scripts cannot
import it; ``tests/test_records.py`` holds their literals to it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

from .constants import RUN_KEY_PREFIX
from .settings import DEFAULT_SOURCE


class Meta(StrEnum):
    """The fields of a run's record that say how the run goes: never counts."""

    KIND = "kind"  # the kind of run (kinds.Kind): the record says what ran
    STARTED_AT = "started_at"  # when dispatch opened the record (s); never written after
    SOURCE = "source"  # the one source asked for, or ALL_SOURCES; absent under WARMING_SOURCE
    LOCK = "lock"  # the refresh locks' tokens (lock_field)
    FINISH = "finish"  # the run's body as Task.replace built it: a signature as JSON
    DISPATCHED = "dispatched"  # batches sent so far: progress before the total is known
    DISPATCH_ERROR = "dispatch_error"  # why listing the keys ended early
    TOTAL = "total"  # the run's batch count, fixed by the first complete dispatch
    DISPATCHED_AT = "dispatched_at"  # when that dispatch ended (s)
    COUNTED = "counted"  # finished batches that fall inside the total
    FINISHED_AT = "finished_at"  # stamped once: the last batch finished, or the run was closed
    BODY_BY = "body_by"  # who sends the body: the completing batch's index, or a BodyBy
    BODY_SENT = "body_sent"  # the body is on its way: a redelivered batch never resends it
    RECORDED = "recorded"  # in the history and the totals: a redelivered finish adds none
    CANCEL = "cancel"  # when the run was cancelled (s): its remaining batches stand down
    STALLED = "stalled"  # when it was closed for making no progress (s)
    # A copy run's (kinds.Kind.COPY), written when its record opens:
    COPY_FROM = "copy_from"  # the other server's URL, its password masked: never the password
    METHOD = "method"  # how values move: CopyMethod
    LISTING = "listing"  # how its keys were listed: Listing
    # Not in the hash: ``run_state`` adds how many batches finished (the done set's size).
    BATCHES_DONE = "batches_done"


class BodyBy(StrEnum):
    """Who sends a run's body (``Meta.BODY_BY``) when no batch does."""

    DISPATCH = "dispatch"  # every batch finished before dispatch did: its result is the body
    STALL = "stall"  # the closer of stalled runs


class Count(StrEnum):
    """The counts of a run's record: batches add theirs, the dispatcher and the
    closer of stalled runs set their own. A run's summary carries each one found."""

    # A batch's, by what it did with its keys:
    LOADED = "loaded"  # written by a preload or a predictive load
    MISSING = "missing"  # the source has no data for them (copy: ranked, not on the other server)
    FAILED = "failed"  # failed to load or to write
    SUPERSEDED = "superseded"  # left alone: the application wrote them meanwhile
    DUE = "due"  # refresh: close to expiry when the batch looked
    NOT_DUE = "not_due"  # refresh: no longer due, or gone, when the batch looked
    REFRESHED = "refreshed"  # refresh: reloaded
    KEPT_STALE = "kept_stale"  # refresh: kept past expiry while the source failed
    CANDIDATES = "candidates"  # predictive: ranked keys not cached
    ALREADY_CACHED = "already_cached"  # predictive: ranked keys the cache held already
    CANCELLED = "cancelled"  # its batch stood down (paused, cancelled, or closed)
    LOCK_LOST = "lock_lost"  # its batch stood down: another run holds the refresh lock
    COPIED = "copied"  # copy: written with the remaining TTL the other server gave
    SKIPPED_EXISTING = "skipped_existing"  # copy: the cache held the key already: left alone
    EXPIRED = "expired"  # copy: listed, then gone from the other server (or its TTL ran out)
    SKIPPED_PERSISTENT = "skipped_persistent"  # copy: no TTL on the other server, no --persistent
    SKIPPED_LARGE = "skipped_large"  # copy: too large to DUMP or RESTORE within 1 ms of Redis
    # The dispatcher's:
    CHECKED = "checked"  # refresh: hot keys probed
    NOT_CACHED = "not_cached"  # refresh: probed keys the cache does not hold
    SKIPPED_UNREAD = "skipped_unread"  # refresh: due keys the application no longer reads
    UNROUTED = "unrouted"  # predictive: ranked keys that no source claims
    RANKED = "ranked"  # copy --top: keys its ranking held (fewer than N where it held fewer)
    # The closer of stalled runs' (close_stalled.lua):
    LOST = "lost"  # batches sent that never reported


class CopyMethod(StrEnum):
    """How a copy moves values (``Meta.METHOD``): the same bytes with ``DUMP`` and
    ``RESTORE``, or a string's value with ``GET`` and ``SET`` where the servers'
    dump formats differ."""

    DUMP = "dump"
    GET_SET = "get_set"


class Listing(StrEnum):
    """How a copy listed its keys (``Meta.LISTING``)."""

    SCAN = "scan"  # --all: every key of the other server
    ORIGIN_FREQUENCY_SET = "origin_frequency_set"  # --top: the other server's {warming}:freq
    FREQUENCY_SET = "frequency_set"  # --top: the cache's own {warming}:freq
    OBJECT_FREQ = "object_freq"  # --top: the other server's LFU counters (OBJECT FREQ)


# A run's record says ``source`` is this when the run covered every source.
ALL_SOURCES = "*"
# A batch of a named source also counts its source's share: ``<source>|<count>``.
BY_SOURCE = "|"

_FIELDS: dict[str, Meta | Count] = {f.value: f for f in (*Meta, *Count)}


def count_field(count: Count | str, source: str | None = None) -> str:
    """The record's field of ``count``: the run's own, or ``source``'s share of it."""
    return str(count) if source is None else f"{source}{BY_SOURCE}{count}"


class RunKeys(NamedTuple):
    """A run's keys (before the store's prefix), in the order its scripts take them."""

    record: str  # the hash: Meta and Count fields
    done: str  # finished batch indexes (sorted set, scored by index)
    errors: str  # the error sample (list of JSON)


def run_keys(run_id: str) -> RunKeys:
    record = f"{RUN_KEY_PREFIX}{run_id}"
    return RunKeys(record, f"{record}:done", f"{record}:errors")


def lock_field(locks: Mapping[str, str], named: bool) -> str:
    """``Meta.LOCK`` of a run holding ``locks`` (source: token): JSON where there are
    named sources; the one source of WARMING_SOURCE keeps the bare token it always
    had, so a worker not yet upgraded reads it."""
    return json.dumps(dict(locks)) if named else locks.get(DEFAULT_SOURCE, "")


def parse_locks(value: str) -> dict[str, str]:
    """Each source's lock token from ``Meta.LOCK`` (see ``lock_field``)."""
    if not value:
        return {}
    if value.startswith("{"):
        locks: dict[str, str] = json.loads(value)
        return locks
    return {DEFAULT_SOURCE: value}


@dataclass(frozen=True)
class RunRecord:
    """A run's record as read back: its Meta fields typed, its counts apart.

    A field that is neither (a newer version's, or a typo) lands in ``unknown``:
    it is never taken for a count.
    """

    exists: bool = False  # the record has any field (an empty hash reads as none)
    kind: str | None = None
    started_at: float | None = None
    scope: str | None = None  # the one source the run was asked for; None: every source
    locks: dict[str, str] = field(default_factory=dict)
    finish: str | None = None
    dispatched: int | None = None
    dispatch_error: str | None = None
    total: int | None = None
    dispatched_at: float | None = None
    finished_at: float | None = None
    body_by: str | None = None
    cancelled_at: float | None = None
    stalled_at: float | None = None
    copy_from: str | None = None  # a copy's: the other server, its password masked
    method: str | None = None  # a copy's: CopyMethod
    listing: str | None = None  # a copy's: Listing
    batches_done: int = 0
    counts: dict[Count, int] = field(default_factory=dict)  # in the record's order
    by_source: dict[str, dict[Count, int]] = field(default_factory=dict)
    unknown: tuple[str, ...] = ()

    @classmethod
    def parse(cls, state: Mapping[str, str]) -> RunRecord:
        """The record from its hash's fields (``store.run_state``)."""
        counts: dict[Count, int] = {}
        by_source: dict[str, dict[Count, int]] = {}
        meta: dict[Meta, str] = {}
        unknown: list[str] = []
        for name, value in state.items():
            known = _FIELDS.get(name)
            if isinstance(known, Meta):
                meta[known] = value
            elif isinstance(known, Count):
                counts[known] = int(value)
            else:
                # A source's share; a count is never named with BY_SOURCE, a source may be.
                source, sep, count = name.rpartition(BY_SOURCE)
                share = _FIELDS.get(count)
                if sep and isinstance(share, Count):
                    by_source.setdefault(source, {})[share] = int(value)
                else:
                    unknown.append(name)
        scope = meta.get(Meta.SOURCE, ALL_SOURCES)
        return cls(
            exists=bool(state),
            kind=meta.get(Meta.KIND),
            started_at=_float(meta, Meta.STARTED_AT),
            scope=None if scope == ALL_SOURCES else scope,
            locks=parse_locks(meta.get(Meta.LOCK, "")),
            finish=meta.get(Meta.FINISH),
            dispatched=_int(meta, Meta.DISPATCHED),
            dispatch_error=meta.get(Meta.DISPATCH_ERROR),
            total=_int(meta, Meta.TOTAL),
            dispatched_at=_float(meta, Meta.DISPATCHED_AT),
            finished_at=_float(meta, Meta.FINISHED_AT),
            body_by=meta.get(Meta.BODY_BY),
            cancelled_at=_float(meta, Meta.CANCEL),
            stalled_at=_float(meta, Meta.STALLED),
            copy_from=meta.get(Meta.COPY_FROM),
            method=meta.get(Meta.METHOD),
            listing=meta.get(Meta.LISTING),
            batches_done=_int(meta, Meta.BATCHES_DONE) or 0,
            counts=counts,
            by_source=by_source,
            unknown=tuple(unknown),
        )

    @property
    def sent(self) -> int:
        """Batches sent: the total once dispatch is complete, else so far."""
        return self.total if self.total is not None else self.dispatched or 0

    def body(self) -> dict[str, Any]:
        """The run's body, the signature its finisher sends."""
        if self.finish is None:
            raise KeyError(f"the run's record has no {Meta.FINISH.value!r} field")
        body: dict[str, Any] = json.loads(self.finish)
        return body


def _float(meta: Mapping[Meta, str], name: Meta) -> float | None:
    value = meta.get(name)
    return None if value is None else float(value)


def _int(meta: Mapping[Meta, str], name: Meta) -> int | None:
    value = meta.get(name)
    return None if value is None else int(value)


class Outcome(StrEnum):
    """How a run ended, for the run totals (``kinds.outcome``)."""

    OK = "ok"
    FAILED = "failed"  # some keys, or the listing of the keys, failed
    CANCELLED = "cancelled"
    LOST = "lost"  # closed as stalled
    SKIPPED = "skipped"  # did not run: paused, switched off, or overlapping


class Total(StrEnum):
    """What the run totals keep for each kind of run, and each scope."""

    RUNS = "runs"  # runs that ended, by outcome (a counter)
    FINISHED_AT = "finished_at"  # when the last run ended (Unix time)
    DURATION_S = "duration_s"  # how long the last run took
    SUCCEEDED_AT = "succeeded_at"  # when the last run whose outcome was ok ended


# A totals field carries ``@<source>`` for runs of that one source; none for all.
SCOPE_MARK = "@"
_SEP = ":"


@dataclass(frozen=True)
class TotalsField:
    """One field of the run totals: ``runs:<kind>:<outcome>``, or
    ``finished_at|duration_s|succeeded_at:<kind>``, then ``@<source>`` when the runs
    covered one source alone (None: every source)."""

    total: Total
    kind: str
    outcome: Outcome | None = None  # Total.RUNS only
    source: str | None = None

    def __str__(self) -> str:
        parts = [self.total, self.kind, *([] if self.outcome is None else [self.outcome])]
        scope = "" if self.source is None else f"{SCOPE_MARK}{self.source}"
        return _SEP.join(map(str, parts)) + scope

    @classmethod
    def parse(cls, name: str) -> TotalsField | None:
        """The field ``name`` stands for; None for a name of no known shape."""
        # Neither totals, kinds nor outcomes hold the mark: the first one starts the
        # source, which may hold anything.
        head, mark, source = name.partition(SCOPE_MARK)
        scope = source if mark else None
        match head.split(_SEP):
            case [Total.RUNS, kind, outcome] if outcome in _OUTCOMES:
                return cls(Total.RUNS, kind, Outcome(outcome), scope)
            case [total, kind] if total in _LAST:
                return cls(Total(total), kind, None, scope)
        return None


_OUTCOMES = frozenset(o.value for o in Outcome)
_LAST = frozenset(t.value for t in Total if t is not Total.RUNS)


def parse_totals(totals: Mapping[str, float]) -> dict[TotalsField, float]:
    """The run totals by field; a field of no known shape is left out."""
    parsed = {}
    for name, value in totals.items():
        found = TotalsField.parse(name)
        if found is not None:
            parsed[found] = value
    return parsed
