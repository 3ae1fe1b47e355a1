"""The frequency set of the application's reads, its decay epoch, and the
accounting counters the tracker's flush settles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from .. import constants as c
from ..maths.accounting import KIND_SLOTS
from .base import StoreBase, text

_ACCOUNTING = (c.WARMED_KEY, c.ACCOUNT_KEY)


class FrequencyCommands(StoreBase):
    """Decayed access counts: added by the tracker, ranked for predictive loads."""

    def epoch(self) -> int | None:
        raw = self.client.get(self._own(c.EPOCH_KEY))
        return int(raw) if raw is not None else None

    def add_accesses(
        self,
        weights: Mapping[str, float],
        epoch: int,
        max_keys: int,
        read_since: float,
        sweep_before: float = 0.0,
    ) -> int | None:
        """Add weights computed against ``epoch``; the stored epoch if it differs.

        The same call settles the warmed-key samples among these keys (read in
        time if they expire after ``read_since``, the earliest the reads can date
        from) and counts samples that expired before ``sweep_before`` unread.
        """
        keys = [self._own(name) for name in (c.FREQUENCY_KEY, c.EPOCH_KEY, *_ACCOUNTING)]
        args: list[Any] = [
            epoch,
            max_keys,
            read_since,
            sweep_before,
            c.WARMED_SWEEP_PER_FLUSH,
            KIND_SLOTS,
        ]
        for member, weight in weights.items():
            args += [member, repr(weight)]
        reply = self._run("flush", keys, args)
        return None if int(reply[0]) == 1 else int(reply[1])

    def rebase(self, old_epoch: int, new_epoch: int, factor: float) -> bool:
        keys = [self._own(c.FREQUENCY_KEY), self._own(c.EPOCH_KEY)]
        return bool(self._run("rebase", keys, [old_epoch, new_epoch, repr(factor)]))

    def top_keys(self, limit: int) -> list[tuple[str, float]]:
        """The ``limit`` highest-scored members, highest first."""
        rows = self.client.zrevrange(self._own(c.FREQUENCY_KEY), 0, limit - 1, withscores=True)
        return [(text(member), float(score)) for member, score in cast(list[Any], rows)]

    def frequency_size(self) -> int:
        return int(self.client.zcard(self._own(c.FREQUENCY_KEY)))

    def frequency_scores(self, keys: Sequence[str]) -> list[float | None]:
        """Each key's stored score in the frequency set, None where it has none."""
        if not keys:
            return []
        rows = self.client.zmscore(self._own(c.FREQUENCY_KEY), list(keys))
        return [None if s is None else float(s) for s in cast(list[Any], rows)]

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

    def reads(self) -> tuple[int, int]:
        """Tracked reads so far: hits, misses."""
        raw = cast(list[bytes | None], self.client.hmget(self._own(c.READS_KEY), "hits", "misses"))
        hits, misses = (int(v) if v is not None else 0 for v in raw)
        return hits, misses
