"""The frequency set of the application's reads, its decay epoch, and the
accounting counters the tracker's flush settles."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, cast

from .. import constants as c
from ..maths.accounting import KIND_SLOTS
from ..maths.tuning import (
    CANDIDATES_S,
    EVAL_HALF_LIFE_S,
    LEGACY_HALF_LIFE_S,
    SNAPSHOT_S,
    START_S,
    Belief,
    sample_rank_limit,
)
from .base import StoreBase, text

_ACCOUNTING = (c.WARMED_KEY, c.ACCOUNT_KEY)
_SKIPLIST_MEMBER = "{warming}:" + "s" * 128
# What flush.lua and rescale.lua answer.
_RESCALING = 2  # flush: a rescale is in flight
_IN_FLIGHT, _STEPPED, _FINISHED = -1, 1, 2  # rescale: another kind's job; a step; the end


def half_life_text(seconds: float) -> str:
    """A half-life as stored: the same number always reads the same."""
    return f"{seconds:.17g}"


def sample_key(half_life_s: float) -> str:
    return f"{c.SAMPLE_KEY_PREFIX}{half_life_text(half_life_s)}"


@dataclass(frozen=True)
class Ranking:
    """What a flush's scores are computed against."""

    epoch: int | None
    half_life_s: float | None = None  # as stored beside the scores
    sample_epoch: int | None = None  # auto only
    # Scores are moving to a new epoch (rescale.lua), some scaled and some not yet:
    # their order holds, their values do not.
    rescaling: bool = False

    def scored_with(self, own: float | Literal["auto"]) -> float:
        """The half-life the stored scores are weighted with: as stored beside them,
        else (scores from before it was stored) 3600 s, else this process's own
        (auto's starting one)."""
        if self.half_life_s is not None:
            return self.half_life_s
        if self.epoch is not None:
            return LEGACY_HALF_LIFE_S
        return START_S if own == "auto" else own


@dataclass(frozen=True)
class Applied:
    """A flush call's reads are in."""

    belief: Belief | None = None  # auto's, with them
    snapshot_due: bool = False  # the candidates' sets are due a snapshot (snapshot_samples)


@dataclass
class Flush:
    """One call of flush.lua: reads per key, scored against ``epoch``."""

    script: ClassVar[str] = "flush"
    epoch: int
    half_life_s: float
    per_read: float  # the frequency set's score for one read at the flush's time
    max_keys: int
    read_since: float
    sweep_before: float
    now: float
    reads: list[tuple[str, float]]
    # auto only: the candidates' epoch, each one's score per read, the sampled
    # pairs (1-based), the rank standing for the top N, the sample sets' bound.
    sample_epoch: int | None = None
    sample_per_read: tuple[float, ...] = ()
    sampled: list[int] = field(default_factory=list)
    sample_top: int = 0
    sample_max_keys: int = 0

    @property
    def auto(self) -> bool:
        """Whether the call carries auto's evidence (the candidates' sets)."""
        return self.sample_epoch is not None

    def key_names(self) -> list[str]:
        keys = [c.FREQUENCY_KEY, c.EPOCH_KEY, *_ACCOUNTING, c.AUTO_KEY, c.RESCALE_KEY]
        if self.auto:
            keys += [sample_key(h) for h in CANDIDATES_S]
            keys += [sample_key(h) + ":snapshot" for h in CANDIDATES_S]
        return keys

    def argv(self) -> list[Any]:
        fixed = [
            self.epoch,
            half_life_text(self.half_life_s),
            repr(self.per_read),
            self.max_keys,
            self.read_since,
            self.sweep_before,
            c.WARMED_SWEEP_PER_CALL,
            KIND_SLOTS,
            len(CANDIDATES_S) if self.auto else 0,
            "" if self.sample_epoch is None else self.sample_epoch,
            self.sample_top,
            self.now,
            EVAL_HALF_LIFE_S,
            self.sample_max_keys,
            len(self.reads),
        ]
        per_candidate = [repr(f) for f in self.sample_per_read]
        pairs = [part for pair in self.reads for part in pair]
        return [*fixed, *per_candidate, SNAPSHOT_S if self.auto else 0, *pairs, *self.sampled]


@dataclass(frozen=True)
class Rescale:
    """One call of rescale.lua: a step of moving scores to a new epoch. The start
    arguments count only for the call that starts the job; a call that carries on a
    stored job leaves them empty, matching no epoch."""

    script: ClassVar[str] = "rescale"
    mode: str  # 'freq': the frequency set; 'samples': the candidates' sample sets
    sets: Sequence[str]  # the sets to scale, each by its factor
    held_epoch: int | str = ""  # the epoch the caller holds
    new_epoch: int | str = ""
    now: float = 0
    held_h: str = ""  # the half-life held ('' for none: it stays)
    wanted_h: str = ""
    factors: Sequence[float] = ()  # one per set, each at most 1

    def key_names(self) -> list[str]:
        return [c.RESCALE_KEY, c.EPOCH_KEY, c.AUTO_KEY, *self.sets]

    def argv(self) -> list[Any]:
        fixed = [self.mode, c.RESCALE_STEP, self.held_epoch, self.new_epoch, self.now]
        return [*fixed, self.held_h, self.wanted_h, *map(repr, self.factors)]


class FrequencyCommands(StoreBase):
    """Decayed access counts: added by the tracker, ranked for predictive loads."""

    def ranking(self) -> Ranking:
        """The epoch and, with the half-life on auto, the half-life and the
        candidates' epoch as stored (None where nothing is stored yet)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self._own(c.EPOCH_KEY))
        pipe.hmget(self._own(c.AUTO_KEY), "h", "shadow_epoch")
        pipe.exists(self._own(c.RESCALE_KEY))
        epoch, (h, sample_epoch), rescaling = pipe.execute()
        return Ranking(
            epoch=None if epoch is None else int(epoch),
            half_life_s=None if h is None else float(h),
            sample_epoch=None if sample_epoch is None else int(sample_epoch),
            rescaling=bool(rescaling),
        )

    def belief(self) -> Belief | None:
        """What auto holds now, None before its first flush."""
        fields = ["read_n", "h", "since", "born", "reads"]
        fields += [f"hits:{i}" for i in range(1, len(CANDIDATES_S) + 1)]
        read_n, *raw = cast(list[bytes | None], self.client.hmget(self._own(c.AUTO_KEY), fields))
        if raw[0] is None:
            return None
        h, since, born, reads, *hits = (0.0 if v is None else float(v) for v in raw)
        warm_set = None if read_n is None else int(read_n)
        return Belief(h, since, reads, tuple(hits), born, warm_set)

    def add_accesses(self, flush: Flush) -> Ranking | Applied:
        """Add a flush's reads; what applying them says (auto: its belief now, and
        whether the candidates' sets are due a snapshot), or the stored ranking when
        the flush was computed against another one.

        The same call settles the warmed-key samples among these keys (read in
        time if they expire after ``flush.read_since``, the earliest the reads can
        date from) and counts samples that expired before ``flush.sweep_before``
        unread.
        """
        reply = self._call(flush)
        if int(reply[0]) == _RESCALING:
            self.finish_rescale()
            return self.ranking()
        if int(reply[0]) == 0:
            epoch, h, sample_epoch = (text(v) for v in reply[1:4])
            return Ranking(
                int(epoch), float(h) if h else None, int(sample_epoch) if sample_epoch else None
            )
        if not flush.auto:
            return Applied()
        since, born, reads, snapshot_due, *hits = (float(v) for v in reply[1:])
        return Applied(Belief(flush.half_life_s, since, reads, tuple(hits), born), snapshot_due > 0)

    def snapshot_samples(self) -> None:
        """Copy each candidate's sample set to its snapshot, a page per command (once
        a whole flush is in: its later calls are judged by the older snapshot, as
        the reads of one flush all are)."""
        for h in CANDIDATES_S:
            live = self._own(sample_key(h))
            snapshot, building = f"{live}:snapshot", f"{live}:snapshot:next"
            # A new sorted set starts as a listpack, and inserting into one with long
            # float scores costs a parse of every score before it: 200 members took
            # 1.4 ms. A member longer than any listpack holds makes it a skiplist
            # from the first page (it leaves before the set is used).
            self.client.unlink(building)
            self.client.zadd(building, {_SKIPLIST_MEMBER: 0})
            copied = 0
            while True:
                last = copied + c.COPY_PAGE - 1
                rows = self.client.zrange(live, copied, last, withscores=True)
                if rows:
                    self.client.zadd(building, dict(cast(list[tuple[Any, float]], rows)))
                copied += len(rows)
                if len(rows) < c.COPY_PAGE:
                    break
            self.client.zrem(building, _SKIPLIST_MEMBER)
            self.client.unlink(snapshot)  # freed in the background, not by RENAME
            if copied:
                self.client.rename(building, snapshot)

    def rebase(
        self,
        old_epoch: int,
        new_epoch: int,
        factor: float,
        half_lives: tuple[float, float] | None = None,
        now: float = 0.0,
    ) -> bool:
        """Move the epoch; with ``half_lives`` (auto: held, wanted), change the
        half-life in the same step. False when another process moved it first."""
        held, wanted = ("", "") if half_lives is None else map(half_life_text, half_lives)
        return self._rescale(
            Rescale("freq", [c.FREQUENCY_KEY], old_epoch, new_epoch, now, held, wanted, [factor])
        )

    def rebase_samples(self, old_epoch: int, new_epoch: int, factors: Sequence[float]) -> bool:
        """Move the candidates' shared epoch, each set by its own factor."""
        sets = [sample_key(h) for h in CANDIDATES_S]
        return self._rescale(Rescale("samples", sets, old_epoch, new_epoch, factors=factors))

    def _rescale(self, rescale: Rescale) -> bool:
        """Scale a rescale's sets to a new epoch in steps of ``RESCALE_STEP`` members
        (one command each, so the application's reads are served between them)."""
        while True:
            reply = int(self._call(rescale))
            if reply == _IN_FLIGHT:
                self.finish_rescale()  # another process's, of the other kind: end it first
            elif reply != _STEPPED:
                return reply == _FINISHED

    def finish_rescale(self) -> None:
        """Carry a rescale in flight to its end, whichever process started it (one
        that stopped mid-way leaves its job in Redis for the next to finish)."""
        mode = self.client.hget(self._own(c.RESCALE_KEY), "mode")
        if mode is None:
            return
        sets = [c.FREQUENCY_KEY] if text(mode) == "freq" else [sample_key(h) for h in CANDIDATES_S]
        carry_on = Rescale(text(mode), sets)  # the job is stored: no start arguments
        while int(self._call(carry_on)) == _STEPPED:
            pass

    def note_warm_set(self, limit: int) -> None:
        """Tell ``auto`` the size of the warm set a predictive load reads, so its
        evidence is about that N and not only ``WARMING_PREDICTIVE_LIMIT``'s."""
        self.client.hset(
            self._own(c.AUTO_KEY), mapping={"read_n": limit, "warm_top": sample_rank_limit(limit)}
        )

    def top_keys(self, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` highest-scored members, highest first, a page per command."""
        key = self._own(c.FREQUENCY_KEY)
        rows: list[Any] = []
        while len(rows) < limit:
            page = min(c.RANK_PAGE, limit - len(rows))
            got = cast(
                list[Any],
                self.client.zrevrange(key, len(rows), len(rows) + page - 1, withscores=True),
            )
            rows += got
            if len(got) < page:
                break
        return [(text(member), float(score)) for member, score in rows]

    def frequency_size(self) -> int:
        return int(self.client.zcard(self._own(c.FREQUENCY_KEY)))

    def frequency_scores(self, keys: Sequence[str]) -> list[float | None]:
        """Each key's stored score in the frequency set, None where it has none."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for first in range(0, len(keys), c.LOOK_CHUNK_KEYS):
            pipe.zmscore(self._own(c.FREQUENCY_KEY), list(keys[first : first + c.LOOK_CHUNK_KEYS]))
        rows = [score for chunk in pipe.execute() for score in chunk]
        return [None if s is None else float(s) for s in rows]

    def account_counters(self) -> dict[str, int]:
        """The accounting counters: ``warmed|sampled|read|expired:<strategy code>``."""
        raw = cast(dict[bytes, bytes], self.client.hgetall(self._own(c.ACCOUNT_KEY)))
        return {text(k): int(v) for k, v in raw.items()}

    def add_reads(self, hits: int, misses: int) -> None:
        """Count the application's tracked reads that hit and that missed the cache."""
        pipe = self.client.pipeline(transaction=False)
        pipe.hincrby(self._own(c.READS_KEY), "hits", hits)
        pipe.hincrby(self._own(c.READS_KEY), "misses", misses)
        pipe.execute()

    def parity(self) -> dict[str, dict[str, Any]]:
        """How each application cache backend that counts reads names a probe key."""
        raw = cast(dict[bytes, bytes], self.client.hgetall(self._own(c.PARITY_KEY)))
        found: dict[str, dict[str, Any]] = {}
        for backend, named in raw.items():
            with contextlib.suppress(ValueError):
                found[text(backend)] = json.loads(named)
        return found

    def reads(self) -> tuple[int, int]:
        """Tracked reads so far: hits, misses."""
        raw = cast(list[bytes | None], self.client.hmget(self._own(c.READS_KEY), "hits", "misses"))
        hits, misses = (int(v) if v is not None else 0 for v in raw)
        return hits, misses
