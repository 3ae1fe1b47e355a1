"""What one batch does — load, encode, write, count — as plain Python with no Celery in it."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict

from .constants import DISPATCH_WINDOW
from .errors import EncodeError, SourceUnavailable
from .formats import CacheFormat, encode_value
from .formats.raw import RawFormat
from .maths.accounting import sample
from .maths.batching import chunked
from .maths.decay import access_weight, needs_rebase
from .maths.expiry import KEY_MISSING, in_refresh_window, jittered_ttl
from .records import Count
from .retries import retry_span_s
from .settings import DEFAULT_SOURCE, Settings
from .source import DataSource, Loaded, load_batch
from .store import CacheStore, Entry, Reply, Warmed
from .store.stale import EXTENDED

_MISSING_PTTL = -2


class RetryOutcome(TypedDict):
    """A ``BatchResult`` on the Celery wire: the ``outcome`` that a batch whose
    counting failed hands its retry, so the retry counts it without warming again.

    It stays a JSON object of these names (not a list, as a tuple would go): a worker
    of another version may take the retry, so a field may be added and read with a
    default, as the last three are (the first workers sent none), never renamed.
    """

    counts: dict[str, int]  # records.Count fields, and a source's share (count_field)
    errors: list[dict[str, str]]
    written: NotRequired[int]
    sample: NotRequired[list[Any]]  # (key, ttl_s) pairs; JSON makes them lists
    written_at: NotRequired[float]


@dataclass(frozen=True)
class BatchResult:
    """What one batch did: its counts, a sample of its per-key errors, and what it
    wrote, for the accounting of what the application reads."""

    counts: dict[str, int]  # records.Count fields
    errors: list[dict[str, str]] = field(default_factory=list)
    written: int = 0
    sample: list[tuple[str, int]] = field(default_factory=list)  # written keys, TTLs
    written_at: float = 0.0

    def warmed(self, code: int) -> Warmed:
        """What the batch did to the cache, for the accounting of the kind ``code``."""
        return Warmed(
            code=code,
            written=self.written,
            sample=self.sample,
            written_at=self.written_at,
            failed=self.counts.get(Count.FAILED, 0),
            superseded=self.counts.get(Count.SUPERSEDED, 0),
            kept_stale=self.counts.get(Count.KEPT_STALE, 0),
        )

    def as_outcome(self) -> RetryOutcome:
        """This result as JSON for a retry that must count it without warming again."""
        return {
            "counts": self.counts,
            "errors": self.errors,
            "written": self.written,
            "sample": self.sample,
            "written_at": self.written_at,
        }

    @classmethod
    def from_outcome(cls, outcome: RetryOutcome) -> BatchResult:
        """The result ``as_outcome`` sent (JSON turned its pairs into lists)."""
        return cls(
            counts=outcome["counts"],
            errors=outcome["errors"],
            written=outcome.get("written", 0),
            sample=[(key, ttl_s) for key, ttl_s in outcome.get("sample", [])],
            written_at=outcome.get("written_at", 0.0),
        )


def _errors(loaded: Loaded) -> list[dict[str, str]]:
    return [{"key": _shown(key), "reason": reason} for key, reason in loaded.failed.items()]


def _shown(key: str | bytes) -> str:
    """A key as text for summaries and logs (bytes keys shown with escapes)."""
    return key.decode("utf-8", "backslashreplace") if isinstance(key, bytes) else key


def _written(loaded: Loaded, entries: Sequence[Entry], replies: Sequence[Reply]) -> list[Entry]:
    """The entries written; a key Redis refused joins ``loaded.failed``."""
    written = []
    for entry, reply in zip(entries, replies, strict=True):
        if reply is True:
            written.append(entry)
        elif isinstance(reply, str):
            loaded.failed[entry[0]] = f"Redis refused the write: {reply}"[:200]
    return written


def _result(counts: dict[str, int], loaded: Loaded, written: Sequence[Entry]) -> BatchResult:
    picked = [(key, ttl_s) for key, _, ttl_s in sample(written)]
    return BatchResult(
        counts,
        errors=_errors(loaded),
        written=len(written),
        sample=picked,
        written_at=time.time(),
    )


class DueKeys:
    """The keys of a stream that are due for refresh, probed a chunk per round trip.

    A refresh run probes every hot key (one script call per ``chunk`` keys) and
    fans out only the due ones, so a tick where little expires costs a few
    round trips, not a task per thousand keys.
    """

    def __init__(
        self,
        store: CacheStore,
        threshold_s: int,
        chunk: int,
        on_progress: Callable[[int], None] | None = None,
        read_floor: Callable[[], float | None] | None = None,
    ) -> None:
        """With ``read_floor`` (see ``read_floor``, asked again for each chunk, as
        the tracker may rebase the scores meanwhile), due keys whose read score is
        below it are skipped as unread."""
        self.store = store
        self.threshold_s = threshold_s
        self.chunk = chunk
        self.on_progress = on_progress
        self.read_floor = read_floor
        self.checked = 0
        self.not_cached = 0  # checked, and not in the cache: nothing to refresh
        self.skipped_unread = 0

    def counts(self) -> dict[Count, int]:
        """What the probe counted so far, for the run's record."""
        return {
            Count.CHECKED: self.checked,
            Count.NOT_CACHED: self.not_cached,
            Count.SKIPPED_UNREAD: self.skipped_unread,
        }

    def __call__(self, keys: Iterable[str]) -> Iterator[str]:
        for number, chunk in enumerate(chunked(keys, self.chunk), start=1):
            pttls = self.store.pttls(chunk)
            self.checked += len(chunk)
            self.not_cached += sum(1 for pttl in pttls if pttl == KEY_MISSING)
            if self.on_progress is not None and number % DISPATCH_WINDOW == 0:
                self.on_progress(self.checked)
            due = [
                key
                for key, pttl in zip(chunk, pttls, strict=True)
                if in_refresh_window(pttl, self.threshold_s)
            ]
            if self.read_floor is None or not due:
                yield from due
                continue
            # Scores first: a rebase between the two then errs toward refreshing.
            scores = self.store.frequency_scores(due)
            floor = self.read_floor()
            if floor is None:
                yield from due
                continue
            for key, score in zip(due, scores, strict=True):
                if score is not None and score >= floor:
                    yield key
                else:
                    self.skipped_unread += 1


def read_floor(store: CacheStore, settings: Settings, now_s: float) -> float | None:
    """The least read score of a key the application still reads: the weight of
    one read ``WARMING_REFRESH_UNREAD_AFTER`` seconds ago. None where reads are not
    tracked, skipping is off, or nothing at all was read that recently (the
    application stopped tracking: refresh then reloads every due key)."""
    if not (settings.refresh_unread_after and settings.enable_prediction):
        return None
    ranking = store.ranking()
    if ranking.epoch is None or ranking.rescaling:
        return None  # nothing tracked, or scores mid-move: refresh every due key
    half_life = ranking.scored_with(settings.decay_half_life)
    since = now_s - settings.refresh_unread_after
    if needs_rebase(since, ranking.epoch, half_life):
        return None  # no flush has rebased the epoch for ages: nothing is tracked now
    floor = access_weight(since, ranking.epoch, half_life)
    top = store.top_keys(1)
    return floor if top and top[0][1] >= floor else None


class Warmer:
    """Loads batches of keys from a source and writes them to the cache."""

    def __init__(  # noqa: PLR0913 - what a warmer is made of, the last two by name
        self,
        store: CacheStore,
        source: DataSource,
        settings: Settings,
        rng: random.Random | None = None,
        *,
        fmt: CacheFormat | None = None,
        budget: str = DEFAULT_SOURCE,
    ) -> None:
        self.budget = budget  # the source budget it draws from (``sources.NamedSource``)
        self.store = store
        self.source = source
        self.settings = settings
        self.rng = rng or random.Random()
        self.format = fmt or RawFormat(settings.key_prefix)

    def _load(self, keys: Sequence[str]) -> tuple[Loaded, list[Entry]]:
        """Load ``keys`` and encode what the source gave as the application's
        framework reads it; a value that cannot be encoded fails its key alone."""
        loaded = load_batch(self.source, keys)
        return loaded, self._encode(loaded)

    def _encode(self, loaded: Loaded) -> list[Entry]:
        jitter, max_bytes, fmt, rng = (
            self.settings.ttl_jitter,
            self.settings.max_value_bytes,
            self.format,
            self.rng,
        )
        entries = []
        for key, (value, ttl_s) in loaded.entries.items():
            try:
                encoded = encode_value(fmt, value, max_bytes)
            except EncodeError as exc:
                loaded.failed[key] = str(exc)
                continue
            entries.append((key, encoded, jittered_ttl(ttl_s, jitter, rng)))
        return entries

    def pace(self, keys: int) -> float:
        """Wait for ``keys`` of WARMING_SOURCE_RATE, a budget every worker shares, so a
        cold start cannot overload the database behind the source: the seconds waited."""
        return self.store.pace(keys, self.settings.source_rate, self.budget)

    def preload(self, keys: Sequence[str]) -> BatchResult:
        """Load every key and write it where the cache still holds what it held
        before the load (nothing, or the same bytes)."""
        seen, _ = self.store.look(keys)
        held = dict(zip(keys, seen, strict=True))
        loaded, entries = self._load(keys)
        replies = self.store.write(entries, [held[key] for key, _, _ in entries])
        written = _written(loaded, entries, replies)
        counts: dict[str, int] = {
            Count.LOADED: len(written),
            Count.MISSING: len(loaded.missing),
            Count.FAILED: len(loaded.failed),
            Count.SUPERSEDED: _superseded(replies),
        }
        return _result(counts, loaded, written)

    def refresh(
        self, keys: Sequence[str], final: bool = True, kept_before: Sequence[str] = ()
    ) -> BatchResult:
        """Reload the keys close to expiry; write each only where the cache still
        holds the bytes it held when this batch found it due, with a TTL.

        With ``WARMING_STALE_IF_ERROR``, due keys the source fails to reload keep
        their value a while longer. A source that is down is raised for a retry
        (the keys kept first, named in the ``StaleKept`` raised), unless this is
        the ``final`` try; ``kept_before`` are the keys earlier tries kept.
        """
        seen, pttls = self.store.look(keys, with_ttl=True)
        threshold = self.settings.refresh_threshold
        held = {
            key: value
            for key, value, pttl in zip(keys, seen, pttls, strict=True)
            if value is not None and in_refresh_window(pttl, threshold)
        }
        due = list(held)
        try:
            loaded = load_batch(self.source, due)
        except SourceUnavailable as exc:
            kept = _extended(kept_before, self._keep_stale(due, held))
            if not final:
                raise StaleKept(exc, kept) from exc
            loaded = Loaded(failed=dict.fromkeys(due, f"source unavailable: {exc}"[:200]))
            return self._refreshed(keys, due, loaded, [], 0, kept)
        source_failed = list(loaded.failed)
        entries = self._encode(loaded)
        replies = self.store.write(entries, [held[key] for key, _, _ in entries], need_ttl=True)
        written = _written(loaded, entries, replies)
        kept = _extended(kept_before, self._keep_stale(source_failed, held))
        if self.settings.stale_if_error:
            # Reloaded, or changed by the application: a later outage starts a new
            # grace. (A key the source says is gone keeps the expiry it has.)
            pairs = zip(entries, replies, strict=True)
            self.store.end_stale([entry[0] for entry, reply in pairs if isinstance(reply, bool)])
        superseded = _superseded(replies)
        return self._refreshed(keys, due, loaded, written, superseded, kept)

    def _refreshed(  # noqa: PLR0913, PLR0917 - the parts of a refresh's counts
        self,
        keys: Sequence[str],
        due: Sequence[str],
        loaded: Loaded,
        written: Sequence[Entry],
        superseded: int,
        kept: Sequence[str],
    ) -> BatchResult:
        counts: dict[str, int] = {
            Count.DUE: len(due),
            Count.NOT_DUE: len(keys) - len(due),
            Count.REFRESHED: len(written),
            Count.MISSING: len(loaded.missing),
            Count.FAILED: len(loaded.failed),
            Count.SUPERSEDED: superseded,
            # Served past the expiry they had: the keys this batch's tries extended.
            Count.KEPT_STALE: len(kept),
        }
        return _result(counts, loaded, written)

    def _keep_stale(self, keys: Sequence[str], held: dict[str, bytes]) -> dict[str, int]:
        """Keep the values of due keys the source failed to reload, with
        WARMING_STALE_IF_ERROR: long enough to outlive the retries and the next
        refresh tick, within the grace. Each key's ``stale.NOT_KEPT``, ``KEPT``
        or ``EXTENDED``."""
        grace_s = self.settings.stale_if_error
        if not grace_s or not keys:
            return {}
        keep_s = self.settings.refresh_interval + retry_span_s()
        return self.store.keep_stale(keys, [held[key] for key in keys], keep_s, grace_s)

    def predict(self, keys: Sequence[str]) -> BatchResult:
        """Load the ranked keys not cached; never overwrite what the application wrote."""
        pttls = self.store.pttls(keys)
        absent = [k for k, t in zip(keys, pttls, strict=True) if t == _MISSING_PTTL]
        loaded, entries = self._load(absent)
        replies = self.store.write(entries, [None] * len(entries))
        written = _written(loaded, entries, replies)
        counts: dict[str, int] = {
            Count.CANDIDATES: len(absent),
            Count.LOADED: len(written),
            Count.MISSING: len(loaded.missing),
            Count.FAILED: len(loaded.failed),
            Count.ALREADY_CACHED: len(keys) - len(absent),
            Count.SUPERSEDED: _superseded(replies),
        }
        return _result(counts, loaded, written)


class StaleKept(SourceUnavailable):
    """The source is down: the batch is retried, and these due keys were kept
    meanwhile (their expiry extended), to be counted by the try that reports."""

    def __init__(self, cause: SourceUnavailable, kept: Sequence[str]) -> None:
        super().__init__(str(cause))
        self.kept = list(kept)


def _extended(before: Sequence[str], now: dict[str, int]) -> list[str]:
    """The keys extended by earlier tries and by this one, each once."""
    return list(dict.fromkeys([*before, *(key for key, how in now.items() if how == EXTENDED)]))


def _superseded(replies: Sequence[Reply]) -> int:
    """Keys the guard left alone: since the batch looked, the application wrote or
    deleted them, or they expired."""
    return sum(1 for reply in replies if reply is False)
