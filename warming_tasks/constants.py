"""Key names, limits and units in one place.

Every key the suite keeps for itself shares the hash tag ``{warming}`` so that
Lua scripts touching several of them stay on one Redis Cluster slot.
"""

from typing import Final

TAG: Final = "{warming}"
FREQUENCY_KEY: Final = f"{TAG}:freq"
EPOCH_KEY: Final = f"{TAG}:epoch"
AUTO_KEY: Final = f"{TAG}:auto"  # auto's half-life, since when, and its evidence
SAMPLE_KEY_PREFIX: Final = f"{TAG}:sample:"  # + a candidate half-life: its sample set
REFRESH_LOCK_KEY: Final = f"{TAG}:lock:refresh"
RUNS_KEY: Final = f"{TAG}:runs"
RUN_KEY_PREFIX: Final = f"{TAG}:run:"
WARMED_KEY: Final = f"{TAG}:warmed"  # sampled warmed keys, scored expiry_s * KIND_SLOTS + code
ACCOUNT_KEY: Final = f"{TAG}:account"  # per strategy: warmed, sampled, read, expired
READS_KEY: Final = f"{TAG}:reads"  # the application's tracked reads: hits, misses
OPEN_RUNS_KEY: Final = f"{TAG}:open"  # runs not yet closed, scored by their last progress (s)
RUN_TOTALS_KEY: Final = f"{TAG}:totals"  # runs by kind and outcome; each kind's last run
PAUSED_KEY: Final = f"{TAG}:paused"  # set while warming is paused: since when, by whom
RESCALE_KEY: Final = f"{TAG}:rescale"  # a move of the scores to a new epoch, in steps
BUDGET_KEY: Final = f"{TAG}:budget"  # the source budget: when its next key may be loaded
# How each application cache backend that counts reads names a probe key (JSON by
# backend): `check` compares it with the workers' naming.
PARITY_KEY: Final = f"{TAG}:parity"
STALE_KEY: Final = f"{TAG}:stale"  # keys kept past expiry: the expiry their grace counts from (ms)
# `warming-tasks listen`: its counters and last checkpoint (a hash: counted, ignored,
# lost, and Redis' keyspace_misses and run_id when it last saved them).
LISTEN_KEY: Final = f"{TAG}:listen"
# The listener at work (who, since when), with a short TTL: its heartbeat, and the
# lease that keeps a second listener from counting every miss twice.
LISTEN_ALIVE_KEY: Final = f"{TAG}:listen:alive"
# Read, never written, by the listener to see its own key-miss notification arrive.
LISTEN_PROBE_KEY: Final = f"{TAG}:listen:probe"
# + an application key: the id of the latest warm request that asked for it.
PENDING_KEY_PREFIX: Final = f"{TAG}:pending:"
# A warm request waiting longer than this is loaded, never coalesced away.
WARM_PENDING_TTL_S: Final = 3600
# Keys claimed per script call: each is a GET and maybe a DEL, far below 1 ms.
PENDING_CLAIM_CHUNK: Final = 200

RUN_HISTORY_LEN: Final = 100  # finished runs kept for `stats`
RUN_STATE_TTL_S: Final = 7 * 86_400  # a run's progress record outlives any sane run
ERROR_SAMPLE_LEN: Final = 10  # errors kept in a run's summary

# A copy's other server's URL, password and all, kept for the run while it runs (the
# command line's --from): the password never rides in a Celery message. + the run id.
COPY_FROM_KEY_PREFIX: Final = f"{TAG}:copy:from:"
# + the run id: where a copy tries one RESTORE of the other server's dump format.
COPY_PROBE_KEY_PREFIX: Final = f"{TAG}:copy:probe:"
COPY_PROBE_TTL_MS: Final = 10_000  # the probe key is deleted at once; this if that fails
# The source budget that reads from the other server draw from: a budget of its own,
# named so that no source can share it (a source's name starts with a letter or _).
COPY_BUDGET: Final = "@copy"
# The sizes of a copy's listing: SCAN returns about this many keys a call (0.16 ms of
# Redis per call measured here at 500, 0.3 ms at 1,000); OBJECT FREQ ranks at most
# this many keys of an LFU server (a sample, in hash order, on a larger one).
COPY_SCAN_COUNT: Final = 500
COPY_LFU_SAMPLE_KEYS: Final = 1_000_000
# The largest value a copy moves: no DUMP, GET, RESTORE or SET of it keeps either
# Redis 1 ms. Measured on redis-server 7.0 here (median of 5): a string's RESTORE
# costs about 1.6 us a KB (500 KB 0.78 ms, 1 MB 1.6 ms; DUMP a sixth of that), so
# strings up to 256 KB (about 0.4 ms); a hash, set or sorted set of 2,000 16-byte
# members costs 0.1-0.2 ms to RESTORE (5,000: 0.3-0.6 ms, 20,000: 1.1-2 ms; DUMP
# less), so aggregates (and streams) up to 2,000 elements; and a DUMP payload over
# the string bound (an aggregate of large members) is not restored. STRLEN, TYPE and
# the length commands are O(1) (MEMORY USAGE is not: 0.43 ms on a 1.2M-field hash).
COPY_MAX_STRING_BYTES: Final = 256 * 1024
COPY_MAX_ELEMENTS: Final = 2_000
# How many listed keys a copy tries for a value to probe the dump format with.
COPY_PROBE_TRIES: Final = 20

# Warmed keys a batch records for accounting: 1% of a default batch keeps its cost
# to ~1% of the cache Redis' time (100 per batch cost 10% of preload throughput).
WARMED_SAMPLE_PER_BATCH: Final = 10
WARMED_MAX_KEYS: Final = 100_000  # sampled keys held; the soonest to expire go first
WARMED_SWEEP_PER_CALL: Final = 32  # expired, unread samples counted per flush call
SWEEP_GRACE_FLUSHES: Final = 2  # flush intervals an expired sample waits for late reads

# How often beat looks for stalled runs, at most: a run is closed within
# WARMING_RUN_STALL_S plus this.
STALL_CHECK_MAX_S: Final = 60.0

REFRESH_LOCK_TTL_S: Final = 300  # extended by every finished batch of the run
# Batches sent as one group (one batched publish), and between progress updates.
DISPATCH_WINDOW: Final = 16

# Forward decay: rebase the epoch long before 2**exponent overflows a double (2**1023).
REBASE_EXPONENT: Final = 512.0

TRACKER_BUFFER_MAX_ACCESSES: Final = 1_000_000  # raw accesses held between flushes
TRACKER_CONNECT_TIMEOUT_S: Final = 0.5
TRACKER_SOCKET_TIMEOUT_S: Final = 2.0
FLUSH_CHUNK: Final = 64  # members per flush script call: about 0.2 ms of Redis
# Sampled members (auto's evidence) per call: each also costs the six candidate
# half-lives a rank and an add (about 20 µs), so 12 make about 0.3 ms.
FLUSH_SAMPLED_CHUNK: Final = 12
FLUSH_IN_FLIGHT: Final = 4  # flush script calls sent before the first reply is read

CACHE_SOCKET_TIMEOUT_S: Final = 10.0

# Redis runs one command at a time: no command the suite sends may hold it for
# more than a millisecond (the application's reads wait meanwhile). Scripts and
# multi-key commands are cut to these sizes, each about a tenth of that.
LOOK_CHUNK_KEYS: Final = 100  # keys per ZREM, per ZMSCORE of a refresh's read floor
# Keys per call of pttl.lua (a refresh's probe, a predictive load's): about
# 0.1-0.2 ms.
PTTL_CHUNK_KEYS: Final = 200
# Keys per EXISTS of a preload's look while no listener runs: a cold cache answers
# 0 and none of them is read.
EXISTS_CHUNK_KEYS: Final = 500
SCRIPT_CHUNK_KEYS: Final = 32  # keys per compare-and-set (or keep-stale) script call
SCRIPT_CHUNK_BYTES: Final = 64 * 1024  # values carried by one such call, at most
# A value larger than this is never carried by a script: its compare-and-set goes
# as plain commands under WATCH/MULTI, a round trip each.
LARGE_VALUE_BYTES: Final = 16 * 1024
RANK_PAGE: Final = 500  # members per ZREVRANGE page of the frequency set
COPY_PAGE: Final = 200  # members per ZADD of a copied sample set
# Members a rescale step of the forward-decayed scores moves: 200 took 1.0-1.3 ms a
# step on this machine on a noisy day (tests/test_no_stalls.py), 100 half that.
RESCALE_STEP: Final = 100

# The exporter's port: not 9808, celery-exporter's, beside the same Celery fleet.
METRICS_PORT: Final = 9849

# `warming-tasks listen`: its heartbeat outlives this many checkpoints (one per
# WARMING_FLUSH_INTERVAL), and at least LISTEN_ALIVE_MIN_S; a listener standing by
# takes over once it expires.
LISTEN_ALIVE_CHECKPOINTS: Final = 3
LISTEN_ALIVE_MIN_S: Final = 3.0
LISTEN_PROBE_WAIT_S: Final = 2.0  # for the listener's own key-miss notification to arrive
LISTEN_DRAIN_S: Final = 10.0  # on stop, for the backlog before the UNSUBSCRIBE to arrive
LISTEN_BACKOFF_CAP_S: Final = 30.0  # the longest wait between reconnection attempts
# How often a process that warms asks whether a listener runs (its heartbeat): only
# then do its probes take the slower way that publishes no key miss.
LISTEN_CHECK_S: Final = 1.0
# A listener that takes the heartbeat anew waits this long before it listens: every
# process that warms has asked by then, and sent what it probed before it knew.
LISTEN_SETTLE_S: Final = LISTEN_CHECK_S + 2.0
LISTEN_SEEN_S: Final = 86_400  # `check` speaks of notifications if a listener ran this recently
