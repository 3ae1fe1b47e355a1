"""What a copy from another Redis does, with no Celery in it: which keys it lists and
in what order (``plan``), how values move (``choose_method``), and what one batch
does (``Copier``: read the other server, write the cache where it holds no key,
count).

A copy moves Redis keys as they are stored, the format already applied: values are
never decoded or encoded, and only a ranking from a frequency set (which holds the
application's keys) goes through the format's key naming.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from . import constants as c
from .errors import CopyArgumentError, SourceUnavailable
from .kinds import COPY_BATCH_COUNTS
from .records import CopyMethod, Count, Listing
from .retries import REFUSED, TRANSIENT
from .settings import Settings
from .store import CacheStore
from .store.origin import LFU_POLICIES, Origin, key_bytes, key_text
from .store.restore import BAD_PAYLOAD, Copied, Written
from .warmer import BatchResult

log = logging.getLogger(__name__)

AUTO = "auto"  # the method argument that probes the servers for one
METHODS = (AUTO, *(m.value for m in CopyMethod))
_NO_EXPIRY, _GONE = -1, -2  # PTTL's answers


@dataclass(frozen=True)
class Plan:
    """Which keys a copy lists, and how: ``keys`` streams them (called once, when
    dispatch opens the run's record); ``gone`` is what a listed key the other server
    no longer holds counts as: ``expired`` where the listing saw it there, ``missing``
    where a ranking named it (the ranking may hold keys that were never cached)."""

    listing: Listing
    keys: Callable[[], Iterable[str]]
    gone: Count


def plan(
    origin: Origin, cache: CacheStore, top: int | None, redis_key: Callable[[str], str | bytes]
) -> Plan:
    """Every key (``top`` None), or the ``top`` hottest, ranked by the first of: the
    other server's frequency set (the suite ran there), the other server's LFU
    counters (``OBJECT FREQ``, under an LFU maxmemory-policy), the cache's own
    frequency set (just after a failover it may rank only the few keys read since,
    so it comes last). CopyArgumentError where there is no ranking to read.

    ``redis_key`` names an application key of a frequency set as the cache stores it."""
    if top is None:
        return Plan(Listing.SCAN, origin.scan, Count.EXPIRED)
    theirs = CacheStore(origin.client, origin.prefix)
    if theirs.frequency_size():
        return Plan(Listing.ORIGIN_FREQUENCY_SET, _top_of(theirs, top, redis_key), Count.MISSING)
    policy = origin.eviction_policy()
    if policy in LFU_POLICIES:
        return Plan(Listing.OBJECT_FREQ, lambda: origin.lfu_ranked(top), Count.EXPIRED)
    if cache.frequency_size():
        return Plan(Listing.FREQUENCY_SET, _top_of(cache, top, redis_key), Count.MISSING)
    raise CopyArgumentError(
        f"--top needs a ranking of the keys: neither the other server ({origin.shown}) nor "
        f"the cache has a frequency set ({c.FREQUENCY_KEY}), and the other server's "
        f"maxmemory-policy is {policy or 'unknown'}, not an LFU one: copy every key with --all"
    )


def _top_of(
    ranked: CacheStore, top: int, redis_key: Callable[[str], str | bytes]
) -> Callable[[], Iterator[str]]:
    def keys() -> Iterator[str]:
        for key, _ in ranked.top_keys(top):
            yield key_text(key_bytes(redis_key(key)))

    return keys


def choose_method(origin: Origin, cache: CacheStore, run_id: str, asked: str) -> CopyMethod:
    """The method ``asked`` for, or for ``auto``: ``dump`` where the cache takes the
    other server's ``DUMP`` payload (one ``RESTORE`` of a value of the first keys
    SCAN names, none too large, into a probe key of the suite's own, deleted at
    once), else
    ``get_set``. An empty server copies nothing either way: ``dump``."""
    if asked != AUTO:
        return CopyMethod(asked)
    listed = list(islice(origin.scan(), c.COPY_PROBE_TRIES))
    first = [key for key, why in zip(listed, origin.oversized(listed), strict=True) if not why]
    payload = next((r.value for r in origin.read(first, CopyMethod.DUMP) if r.value), None)
    if payload is None or cache.restores(run_id, payload):
        return CopyMethod.DUMP
    return CopyMethod.GET_SET


def shown_key(key: str) -> str:
    """A key as a summary and a log show it: bytes that are not UTF-8 escaped."""
    return key_bytes(key).decode("utf-8", "backslashreplace")


class Copier:
    """Copies batches of keys from the other server into the cache."""

    def __init__(  # noqa: PLR0913 - what a copy batch is made of, by name
        self,
        cache: CacheStore,
        origin: Origin,
        settings: Settings,
        *,
        method: CopyMethod,
        persistent: bool,
        gone: Count,
    ) -> None:
        self.cache = cache
        self.origin = origin
        self.settings = settings
        self.method = method
        self.persistent = persistent
        self.gone = gone

    def pace(self, keys: int) -> float:
        """Wait for ``keys`` of WARMING_SOURCE_RATE, here a budget of reads from the
        other server that every worker shares: the seconds waited."""
        return self.cache.pace(keys, self.settings.source_rate, c.COPY_BUDGET)

    def copy(self, keys: Sequence[str]) -> BatchResult:
        """Read the keys from the other server (one round trip), write each the cache
        does not hold with the TTL it has left (one round trip), count."""
        counts: Counter[str] = Counter()
        errors: list[dict[str, str]] = []
        try:
            large = self.origin.oversized(keys)
            self._skip_large(large, counts, keys)
            keys = [key for key, why in zip(keys, large, strict=True) if why is None]
            started = time.monotonic()
            reads = self.origin.read(keys, self.method)
        except REFUSED as exc:
            reason = f"the other server {self.origin.shown} refused us: {exc}"[:300]
            return BatchResult({Count.FAILED: len(keys)}, [{"key": "*", "reason": reason}])
        except TRANSIENT as exc:
            # Retried with backoff, as an outage of the data source is.
            raise SourceUnavailable(f"the other server {self.origin.shown}: {exc}") from exc
        wanted: list[tuple[str, bytes, int]] = []
        for key, read in zip(keys, reads, strict=True):
            if read.error is not None:
                counts[Count.FAILED] += 1
                errors.append({"key": shown_key(key), "reason": self._read_failed(read.error)})
            elif read.value is None or read.pttl_ms == _GONE:
                counts[self.gone] += 1
            elif read.pttl_ms == _NO_EXPIRY and not self.persistent:
                counts[Count.SKIPPED_PERSISTENT] += 1
            elif len(read.value) > c.COPY_MAX_STRING_BYTES:
                # An aggregate of few but large members: its RESTORE would be as slow.
                self._skip_large([f"a value of {len(read.value):,} bytes"], counts, [key])
            else:
                wanted.append((key, read.value, read.pttl_ms))
        entries, written_keys = self._with_ttl_left(wanted, started, counts)
        dump = self.method is CopyMethod.DUMP
        write = self.cache.restore_absent if dump else self.cache.set_absent
        for key, reply in zip(written_keys, write(entries), strict=True):
            self._count(key, reply, counts, errors)
        result = {str(name): counts[name] for name in (*COPY_BATCH_COUNTS, self.gone)}
        return BatchResult(result, errors, written=counts[Count.COPIED], written_at=time.time())

    @staticmethod
    def _skip_large(
        reasons: Sequence[str | None], counts: Counter[str], keys: Sequence[str]
    ) -> None:
        """Count the keys too large to copy (``skipped_large``), a log line each."""
        for key, why in zip(keys, reasons, strict=True):
            if why is not None:
                counts[Count.SKIPPED_LARGE] += 1
                log.warning("copy: %s not copied, too large: %s", shown_key(key), why)

    def _with_ttl_left(
        self, wanted: Sequence[tuple[str, bytes, int]], started: float, counts: Counter[str]
    ) -> tuple[list[Copied], list[str]]:
        """Each key with the TTL it has left now: its PTTL less the time since the read
        was sent (measured here, so no clock is compared with another server's, and a
        TTL is never lengthened); a key whose TTL ran out meanwhile is ``expired``."""
        elapsed_ms = math.ceil((time.monotonic() - started) * 1000)
        entries, written_keys = [], []
        for key, value, pttl_ms in wanted:
            ttl_ms = 0
            if pttl_ms != _NO_EXPIRY:
                ttl_ms = pttl_ms - elapsed_ms
                if ttl_ms <= 0:
                    counts[Count.EXPIRED] += 1
                    continue
            entries.append(Copied(key_bytes(key), ttl_ms, value))
            written_keys.append(key)
        return entries, written_keys

    def _read_failed(self, error: str) -> str:
        if self.method is CopyMethod.GET_SET and error.startswith("WRONGTYPE"):
            return (
                "not a string: GET and SET copy strings only (the servers' dump formats "
                "differ, or --method get_set was asked for)"
            )
        return f"the other server answered: {error}"[:200]

    @staticmethod
    def _count(
        key: str, reply: Written, counts: Counter[str], errors: list[dict[str, str]]
    ) -> None:
        if reply is True:
            counts[Count.COPIED] += 1
        elif reply is False:
            counts[Count.SKIPPED_EXISTING] += 1
        else:
            counts[Count.FAILED] += 1
            hint = " (the servers' dump formats differ: copy with --method get_set)"
            reason = f"the cache refused it: {reply}{hint if BAD_PAYLOAD in reply else ''}"
            errors.append({"key": shown_key(key), "reason": reason[:300]})
