"""``warming-tasks listen`` as an operator runs it, against real redis-servers: misses
read by a plain ``redis-cli`` (no Python in front) rank their keys and a predictive
load warms them; the suite's own probes of absent keys count for nothing; a listener
killed and started again loses only what was missed meanwhile, and says how many."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from warming_tasks.cli.embedded import RedisProcess
from warming_tasks.ops.metrics import registry_for
from warming_tasks.settings import load_settings
from warming_tasks.store import CacheStore
from warming_tasks.tracker import AccessTracker
from warming_tasks.warmer import Warmer

from .helpers import REPO, as_text, celery_env, cli, process_env, wait_until, warming_lines
from .support.dict_source import DictSource
from .support.fixture_sources import CONFIG_KEY, value_for

pytestmark = pytest.mark.integration

FLUSH_S = 0.2  # the listener's checkpoints (and the tracker's flushes)
STARTED = "listening for key misses"
NOTIFY = "notify-keyspace-events"


class ListenProcess:
    """``python -m warming_tasks listen`` from the repository, logging to a file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env = process_env(env)
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"listen-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait_for: str | None = STARTED) -> ListenProcess:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "warming_tasks", "listen"],
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if wait_for:
            self.wait_for(wait_for)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        def seen() -> bool:
            if text in self.log():
                return True
            assert self.process is not None
            assert self.process.poll() is None, f"listen exited early:\n{self.log()}"
            return False

        wait_until(seen, timeout, f"{text!r} in the listen log")

    def exit_code(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: nothing saved, nothing handed over, as a host crash would."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=15)


@pytest.fixture
def listeners(tmp_path: Path) -> Iterator[list[ListenProcess]]:
    started: list[ListenProcess] = []
    yield started
    for proc in started:
        if proc.process is not None and proc.process.poll() is None:
            proc.kill()


@pytest.fixture
def start_listen(
    listeners: list[ListenProcess], tmp_path: Path
) -> Any:  # a factory: env -> ListenProcess
    def start(env: dict[str, str], wait_for: str | None = STARTED) -> ListenProcess:
        proc = ListenProcess(env, tmp_path / "listen")
        listeners.append(proc)
        return proc.start(wait_for)

    return start


def env_for(server: RedisProcess, **settings: object) -> dict[str, str]:
    return celery_env(server, WARMING_FLUSH_INTERVAL=FLUSH_S, **settings)


def redis_cli(server: RedisProcess, *args: str) -> str:
    """A read by a client with no Python in front: the application in another language."""
    done = subprocess.run(
        ["redis-cli", "-p", str(server.port), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    return done.stdout


def scores(cache: redis.Redis, keys: list[str], prefix: str = "") -> dict[str, float | None]:
    found = cache.zmscore(f"{prefix}{{warming}}:freq", keys)
    return dict(zip(keys, found, strict=True))


def ranked(cache: redis.Redis, prefix: str = "") -> list[str]:
    return [as_text(k) for k in cache.zrevrange(f"{prefix}{{warming}}:freq", 0, -1)]


def state(cache: redis.Redis, prefix: str = "") -> dict[str, str]:
    raw = cache.hgetall(f"{prefix}{{warming}}:listen")
    return {as_text(k): as_text(v) for k, v in raw.items()}


def beats(cache: redis.Redis, n: int = 2, prefix: str = "") -> None:
    """Wait for ``n`` more checkpoints: what was received by now is flushed and saved."""

    def moved(since: str | None) -> bool:
        return state(cache, prefix).get("beat_at") != since

    for _ in range(n):
        last = state(cache, prefix).get("beat_at")
        wait_until(lambda: moved(last), 10, "a checkpoint")  # noqa: B023 - called at once


def exported(cache: redis.Redis, prefix: str = "") -> dict[str, float]:
    """The listen series as the exporter serves them."""
    text = generate_latest(registry_for(CacheStore(cache, prefix))).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name.startswith("warming_listen_")
    }


# --- counting, and warming what was counted -------------------------------------------


def test_misses_of_a_plain_client_rank_keys_and_a_predictive_load_warms_them(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    cache.config_set(NOTIFY, "")  # off, as Redis ships: the listener turns them on
    env = env_for(redis_server, WARMING_KEY_PREFIX="app:")
    listen = start_listen(env)
    assert "notify-keyspace-events was '', now 'Em'" in listen.log()
    assert as_text(cache.config_get(NOTIFY)[NOTIFY]) == "Em"
    assert "set WARMING_REFRESH_UNREAD_AFTER=0 on the workers" in listen.log(), "it sees no hits"

    for _ in range(3):
        redis_cli(redis_server, "GET", "app:key:1")
    redis_cli(redis_server, "MGET", "app:key:1", "app:key:2", "app:key:3", "app:key:2")
    redis_cli(redis_server, "GET", "other:key:9")  # another application's key
    wait_until(lambda: ranked(cache, "app:") == ["key:1", "key:2", "key:3"], 10, "three ranked")

    top = json.loads(cli("stats", "--json", "--top", "3", env=env).stdout)
    assert [row["key"] for row in top["top_keys"]] == ["key:1", "key:2", "key:3"]
    assert [round(row["score"]) for row in top["top_keys"]] == [4, 2, 1]
    assert top["reads"] == {"hits": 0, "misses": 7, "hit_ratio": 0.0}

    done = cli("predict", "--local", "--limit", "3", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["candidates"], summary["loaded"]) == (3, 3)
    assert redis_cli(redis_server, "MGET", "app:key:1", "app:key:2", "app:key:3").split() == [
        value_for(f"key:{i}") for i in (1, 2, 3)
    ]

    beats(cache, prefix="app:")
    counted = state(cache, "app:")
    assert (counted["counted"], int(counted["ignored"]) >= 1) == ("7", True)
    series = exported(cache, "app:")
    assert series["warming_listen_up"] == 1
    assert series["warming_listen_misses_total"] == 7
    assert series["warming_listen_lost_total"] == 0
    assert listen.stop() == 0
    assert "stopped: 7 misses counted" in listen.log()
    assert exported(cache, "app:")["warming_listen_up"] == 0  # the heartbeat handed back


@pytest.mark.parametrize(
    "case",
    [
        (
            {
                "WARMING_FORMAT": "django",
                "DJANGO_SETTINGS_MODULE": "django_settings",
                "TEST_DJANGO_KEY_PREFIX": "shop",
                "TEST_DJANGO_VERSION": "3",
            },
            "shop:3:product:1",
            "shop:1:product:2",  # another VERSION: not what the workers write
        ),
        (
            {"WARMING_FORMAT": "cachelib", "WARMING_KEY_PREFIX": "flask_cache_"},
            "flask_cache_product:1",
            "product:2",
        ),
        (
            {"WARMING_FORMAT": "listen_formats:Upper"},
            "UP:PRODUCT:1",
            "product:2",
        ),
    ],
    ids=["django", "cachelib", "own-format"],
)
def test_each_format_maps_a_miss_back_to_the_applications_key(
    redis_server: RedisProcess,
    cache: redis.Redis,
    start_listen: Any,
    case: tuple[dict[str, str], str, str],
) -> None:
    settings, theirs, not_theirs = case  # the listener's settings, a key of theirs, not
    prefix = settings.get("WARMING_KEY_PREFIX", "")
    start_listen(env_for(redis_server, **settings))
    redis_cli(redis_server, "GET", theirs)
    redis_cli(redis_server, "GET", not_theirs)
    wait_until(lambda: ranked(cache, prefix) == ["product:1"], 10, "product:1 ranked")
    beats(cache, prefix=prefix)
    assert ranked(cache, prefix) == ["product:1"]


# --- the suite's own probes ---------------------------------------------------------------


def track(server: RedisProcess, reads: dict[str, int]) -> None:
    """The application counts reads by hand (``track_access``), as the listener does."""
    tracker = AccessTracker(load_settings(redis_url=server.url(0)))
    for key, n in reads.items():
        for _ in range(n):
            tracker.track(key)
    assert tracker.flush() == sum(reads.values())
    tracker.close()


def test_the_suites_own_probes_of_absent_keys_count_for_nothing(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    # Hot keys with no data stay absent through every run: unknown:0..4. (The test
    # source reads its knobs from a hash in the cache: one that exists, or each read
    # would be a miss like any other.)
    cache.hset(CONFIG_KEY, mapping={"hot_keys": 20, "unknown_keys": 5})
    env = env_for(redis_server)
    absent = [f"unknown:{i}" for i in range(5)]
    track(redis_server, dict.fromkeys([*absent, *(f"key:{i}" for i in range(5))], 2))
    before = scores(cache, ranked(cache))
    start_listen(env)
    misses_before = cache.info("stats")["keyspace_misses"]

    for command in (["predict", "--limit", "10"], ["preload"], ["refresh"], ["predict"]):
        done = cli(*command, "--local", "--json", env=env)
        assert done.returncode == 0, done.stderr
    predicted = json.loads(done.stdout)
    assert predicted["candidates"] == 5, "the unknown keys were probed, absent, each time"
    # Redis counted the probes' lookups of absent keys, and published none of them.
    assert cache.info("stats")["keyspace_misses"] - misses_before >= 4 * 5
    beats(cache)
    assert scores(cache, list(before)) == before
    assert state(cache)["counted"] == "0"

    # The listener did listen all along: a miss by the application counts at once.
    redis_cli(redis_server, "GET", "unknown:0")
    wait_until(lambda: (scores(cache, ["unknown:0"])["unknown:0"] or 0) > 2.5, 10, "one more")


def probe_until(store: CacheStore, keys: list[str], listener: ListenProcess, logged: str) -> None:
    """Probe ``keys`` as batches do, over and over, until ``logged`` is in the
    listener's log and the store knows that a listener runs."""
    deadline = time.monotonic() + 30
    rounds = 0
    while logged not in listener.log() or not store.listening():
        assert listener.process is not None
        assert listener.process.poll() is None, listener.log()
        assert time.monotonic() < deadline, f"not within 30 s: {logged!r}\n{listener.log()}"
        store.pttls(keys)
        store.look(keys)
        store.look(keys, with_ttl=True)
        rounds += 1
        time.sleep(0.02)  # pace: the probes go on all along, they wait for nothing
    assert rounds > 10, f"only {rounds} rounds of probes before {logged!r}"


def test_probes_while_a_listener_starts_count_for_nothing(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    """Without a listener, probes take the cheaper way, which publishes key misses;
    a process learns that a listener runs within a second, and the listener waits
    that long before it subscribes: probes sent all through its start count for
    nothing."""
    env = env_for(redis_server)
    absent = [f"gone:{i}" for i in range(20)]
    track(redis_server, dict.fromkeys(absent, 2))
    before = scores(cache, absent)
    store = CacheStore(redis.Redis.from_url(redis_server.url(0)))
    pubsub = cache.pubsub()
    pubsub.psubscribe("__keyevent@0__:keymiss")
    cache.config_set(NOTIFY, "Em")
    assert store.listening() is False
    store.pttls(absent[:1])
    published: list[str] = []

    def missed() -> bool:
        message = pubsub.get_message(timeout=0.1, ignore_subscribe_messages=True)
        if message is not None:
            published.append(as_text(message["data"]))
        return "gone:0" in published

    wait_until(missed, 10, f"no listener: the plain PTTL publishes its miss ({published})")
    pubsub.close()

    listener = start_listen(env, wait_for=None)
    probe_until(store, absent, listener, STARTED)
    beats(cache)
    assert scores(cache, absent) == before
    assert state(cache)["counted"] == "0"

    redis_cli(redis_server, "GET", "gone:0")  # the application's miss counts at once
    wait_until(lambda: (scores(cache, ["gone:0"])["gone:0"] or 0) > 2.5, 10, "one more")


def test_probes_after_the_heartbeat_is_lost_count_for_nothing(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    """Redis loses the heartbeat while the listener listens (an eviction, a restart):
    processes that warm find no listener and probe the cheaper way; the listener, on
    taking the heartbeat anew, drops what it received and listens again once they
    know, so none of those probes counts."""
    env = env_for(redis_server)
    absent = [f"gone:{i}" for i in range(20)]
    track(redis_server, dict.fromkeys(absent, 2))
    before = scores(cache, absent)
    listener = start_listen(env)
    cache.delete("{warming}:listen:alive")
    store = CacheStore(redis.Redis.from_url(redis_server.url(0)))
    assert store.listening() is False
    probe_until(store, absent, listener, "listening for key misses again")
    assert "heartbeat had expired" in listener.log()
    beats(cache)
    assert scores(cache, absent) == before

    redis_cli(redis_server, "GET", "gone:0")  # the application's miss counts at once
    wait_until(lambda: (scores(cache, ["gone:0"])["gone:0"] or 0) > 2.5, 10, "one more")


def test_a_refresh_whose_due_keys_expire_before_its_batch_adds_nothing(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    """A refresh looks at keys its dispatcher found about to expire: some are gone by
    the time its batch runs, others expire while it loads them. Its looks, its
    compare-and-sets (small values and a large one) and its keep-stale publish no
    key miss for them, so the ranking stays as the application made it."""
    start_listen(env_for(redis_server))
    gone = [f"gone:{i}" for i in range(40)]  # expired between the dispatch and the batch
    expiring = [f"expiring:{i}" for i in range(40)]  # expire while the batch loads
    large = "large:0"  # a value over LARGE_VALUE_BYTES: read and written alone
    keys = [*gone, *expiring, large]

    def expire_all() -> None:
        for key in [*expiring, large]:
            cache.pexpire(key, 1)
        time.sleep(0.05)

    def refresh(data: dict[str, Any], **settings: object) -> Any:
        for key in expiring:
            cache.set(key, "old", px=5000)
        cache.set(large, b"x" * 40_000, px=5000)
        conf = load_settings(redis_url=redis_server.url(0), refresh_threshold=60, **settings)
        store = CacheStore(cache, conf.key_prefix)
        source = DictSource(data, during_load=expire_all)
        warmer = Warmer(store, source, conf, random.Random(1))  # type: ignore[arg-type]
        return warmer.refresh(keys)

    misses_before = cache.info("stats")["keyspace_misses"]
    fresh: dict[str, tuple[object, object]] = {key: ("new", 3600) for key in keys}
    done = refresh(fresh)
    assert (done.counts["due"], done.counts["refreshed"]) == (41, 0)
    failing: dict[str, Any] = dict.fromkeys(keys, RuntimeError("db down"))
    done = refresh(failing, stale_if_error=60)  # keep_stale.lua, and one key WATCHed
    assert (done.counts["due"], done.counts["kept_stale"]) == (41, 0)
    # Gone, asked without a miss of the test's own (EXISTS of an absent key publishes one).
    assert CacheStore(cache).pttls(keys) == [-2] * len(keys)
    # Redis looked the absent keys up (without publishing a miss for any).
    assert cache.info("stats")["keyspace_misses"] - misses_before >= 2 * 41

    beats(cache)
    assert ranked(cache) == []
    assert state(cache)["counted"] == "0"
    redis_cli(redis_server, "GET", "gone:0")  # the listener did listen all along
    wait_until(lambda: ranked(cache) == ["gone:0"], 10, "the application's miss counted")


# --- stopping, dying, standing by ----------------------------------------------------------


def test_a_killed_listener_restarted_loses_only_what_was_missed_meanwhile(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    env = env_for(redis_server)
    first = start_listen(env)
    redis_cli(redis_server, "MGET", *(f"before:{i}" for i in range(5)))
    wait_until(lambda: len(ranked(cache)) == 5, 10, "the misses before the kill counted")
    beats(cache)
    counted_before = scores(cache, [f"before:{i}" for i in range(5)])
    first.kill()

    during = [f"during:{i}" for i in range(5)]
    redis_cli(redis_server, "MGET", *during)
    redis_cli(redis_server, "MGET", *during)  # 10 misses with no listener
    second = start_listen(env)  # it stands by until the dead one's heartbeat expires
    after = [f"after:{i}" for i in range(5)]
    redis_cli(redis_server, "MGET", *after)
    wait_until(lambda: all(scores(cache, after).values()), 10, "the misses after counted")
    beats(cache)

    assert set(scores(cache, during).values()) == {None}, "what nobody heard is not counted"
    assert scores(cache, [f"before:{i}" for i in range(5)]) == counted_before
    lost = int(state(cache)["lost"])
    # At least the 10 misses of the gap; beyond them only the dead listener's own
    # probes and the suite's key lookups since its last checkpoint.
    assert 10 <= lost <= 40, lost
    assert f"{lost} misses estimated lost since the last listener stopped" in second.log()
    assert exported(cache)["warming_listen_lost_total"] == lost
    assert exported(cache)["warming_listen_misses_total"] == 10


def test_a_sigterm_during_a_burst_counts_or_counts_as_lost_every_miss(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    """Stopped while notifications wait in Redis' output buffer and its socket, the
    listener unsubscribes and counts them; whatever it did not receive is estimated
    lost (by it, or by the next listener): none is dropped unaccounted."""
    env = env_for(redis_server)
    first = start_listen(env)
    sent = 200_000  # GETs of absent keys, pipelined: faster than a listener counts
    port, n = str(redis_server.port), str(sent)
    burst = subprocess.Popen(
        ["redis-benchmark", "-p", port, "-t", "get", "-n", n, "-P", "100", "-r", "50000", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: len(ranked(cache)) > 0, 10, "the burst being counted")
        assert first.stop() == 0
    finally:
        assert burst.wait(timeout=60) == 0
    stopped = state(cache)
    assert int(stopped["counted"]) > 0
    start_listen(env)  # estimates what nobody received after the first stopped
    beats(cache)
    after = state(cache)
    counted, lost = int(after["counted"]), int(after["lost"])
    assert counted + lost >= sent, (counted, lost)
    # An upper bound, not a guess: beyond the burst only a few probes of the suite's own.
    assert counted + lost <= sent + 50, (counted, lost)


def test_a_second_listener_stands_by_and_takes_over_when_the_first_stops(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    env = env_for(redis_server, WARMING_REFRESH_UNREAD_AFTER=0)
    first = start_listen(env)
    assert "WARMING_REFRESH_UNREAD_AFTER" not in first.log()
    second = start_listen(env, wait_for="standing by")
    redis_cli(redis_server, "GET", "product:1")
    wait_until(lambda: scores(cache, ["product:1"])["product:1"], 10, "the miss counted")
    beats(cache)
    assert round(scores(cache, ["product:1"])["product:1"] or 0) == 1, "counted once, not twice"

    assert first.stop() == 0  # hands the heartbeat over: the other starts at once
    second.wait_for(STARTED, timeout=5)
    assert "0 misses estimated lost" in second.log()
    redis_cli(redis_server, "GET", "product:1")
    wait_until(lambda: round(scores(cache, ["product:1"])["product:1"] or 0) == 2, 10, "again")


def test_a_restart_of_redis_is_ridden_out_and_its_gap_counted(
    servers: Any, start_listen: Any
) -> None:
    server = servers("cache", ["--save", "", "--appendonly", "yes", "--appendfsync", "always"])
    cache = server.client(0)
    listen = start_listen(env_for(server))
    redis_cli(server, "GET", "before:1")
    wait_until(lambda: ranked(cache) == ["before:1"], 10, "the miss before the restart")
    beats(cache)

    server.stop(kill=True)
    server.start()  # with its data, and notify-keyspace-events back to '' (not persisted)
    gap = [f"gap:{i}" for i in range(5)]
    redis_cli(server, "MGET", *gap)  # the listener may be back already, or not yet
    listen.wait_for("listening for key misses again")
    assert "notify-keyspace-events was '', now 'Em'" in listen.log().split(STARTED, 1)[1]
    redis_cli(server, "GET", "after:1")
    wait_until(lambda: scores(cache, ["after:1"])["after:1"], 20, "the miss after the restart")
    beats(cache)
    heard = sum(1 for score in scores(cache, gap).values() if score)
    assert heard + int(state(cache)["lost"]) >= len(gap), "each miss of the gap heard or lost"
    cache.close()


# --- turning notifications on, and saying what to set -------------------------------------


def test_notifications_are_turned_on_keeping_the_flags_set_and_check_says_when_off(
    redis_server: RedisProcess, cache: redis.Redis, start_listen: Any
) -> None:
    env = env_for(redis_server)
    done = cli("check", env=env)
    assert "key-miss notifications" not in done.stdout + done.stderr, "no listener ever ran"

    cache.config_set(NOTIFY, "Kx")
    listen = start_listen(env)
    assert set(as_text(cache.config_get(NOTIFY)[NOTIFY])) == set("KxEm")
    assert "key-miss notifications: ok" in cli("check", env=env).stdout
    health = cli("listen", "--health", env=env)
    assert health.returncode == 0, health.stderr
    assert health.stdout.startswith(f"a listener counts the key misses of {redis_server.url(0)}")
    assert listen.stop() == 0

    cache.config_set(NOTIFY, "")  # turned off by someone while no listener runs
    done = cli("check", env=env)
    assert done.returncode == 1
    assert warming_lines(done.stderr) == [
        "warming-tasks: key-miss notifications: off on the cache Redis "
        "(notify-keyspace-events=''), so warming-tasks listen counts no misses: set "
        "notify-keyspace-events to 'Em' in its configuration (a listener turns them on "
        "when it starts and CONFIG SET is allowed)"
    ]
    health = cli("listen", "--health", env=env)
    assert (health.returncode, warming_lines(health.stderr)) == (
        1,
        [
            f"warming-tasks: no listener counts the key misses of {redis_server.url(0)}: "
            "none holds its heartbeat"
        ],
    )


def test_a_redis_that_refuses_config_set_is_told_what_to_set_exit_2(
    servers: Any, start_listen: Any
) -> None:
    server = servers("cache")
    admin = server.client(0)
    admin.execute_command(
        "ACL", "SETUSER", "app", "on", ">s3cret", "~*", "&*", "+@all", "-config|set"
    )
    url = f"redis://app:s3cret@127.0.0.1:{server.port}/0"
    listen = start_listen(env_for(server, WARMING_REDIS_URL=url), wait_for=None)
    assert listen.exit_code() == 2
    assert warming_lines(listen.log()) == [
        f"warming-tasks: key-miss notifications are off on the cache Redis at "
        f"redis://app:***@127.0.0.1:{server.port}/0 (notify-keyspace-events='') and it "
        "refuses CONFIG SET (this user has no permissions to run the 'config|set' command): "
        "set notify-keyspace-events to 'Em' in its configuration (redis.conf, or your "
        "provider's parameter group)"
    ]
    assert "s3cret" not in listen.log()
    admin.close()


def test_a_redis_without_config_is_probed_for_notifications(
    servers: Any, start_listen: Any
) -> None:
    """A managed Redis renames CONFIG away: the listener reads a key that never exists
    and waits for its notification."""
    off = servers("off", ["--save", "", "--rename-command", "CONFIG", ""])
    listen = start_listen(env_for(off), wait_for=None)
    assert listen.exit_code() == 2
    assert warming_lines(listen.log()) == [
        f"warming-tasks: key-miss notifications do not arrive from the cache Redis at "
        f"{off.url(0)}: set notify-keyspace-events to include E and m (e.g. 'Em') in its "
        "configuration (redis.conf, or your provider's parameter group)"
    ]

    on = servers(
        "on", ["--save", "", "--rename-command", "CONFIG", "", "--notify-keyspace-events", "Em"]
    )
    listen = start_listen(env_for(on))
    assert "notify-keyspace-events=not readable (CONFIG refused)" in listen.log()
    redis_cli(on, "GET", "product:1")
    cache = on.client(0)
    wait_until(lambda: ranked(cache) == ["product:1"], 10, "the miss counted")
    cache.close()


@pytest.mark.parametrize(
    ("settings", "line"),
    [
        (
            {"WARMING_FORMAT": "listen_formats:NoInverse"},
            "warming-tasks: WARMING_FORMAT=listen_formats:NoInverse cannot map a Redis key back "
            "to the application's key: add an app_key(redis_key) method to NoInverse, the "
            "inverse of its redis_key() (None for a key that is not the application's)",
        ),
        (
            {"WARMING_REDIS_CLUSTER": "true"},
            "warming-tasks: WARMING_REDIS_CLUSTER=true: listen does not support Redis Cluster "
            "yet (each primary publishes only its own key misses; a listener must follow every "
            "primary through failovers and resharding, or it counts some nodes' misses and not "
            "others'): run listen against a single Redis",
        ),
        (
            {"WARMING_ENABLE_PREDICTION": "false"},
            "warming-tasks: WARMING_ENABLE_PREDICTION=false: nothing would use the misses "
            "listen counts (predictive loads are off)",
        ),
    ],
    ids=["format-without-inverse", "cluster", "prediction-off"],
)
def test_what_listen_cannot_do_is_one_line_and_exit_2(
    redis_server: RedisProcess, settings: dict[str, str], line: str
) -> None:
    done = cli("listen", env=env_for(redis_server, **settings))
    assert (done.returncode, warming_lines(done.stderr)) == (2, [line])
    assert "Traceback" not in done.stderr


def test_an_unreachable_cache_at_start_is_one_line_and_exit_1(redis_server: RedisProcess) -> None:
    done = cli("listen", env=env_for(redis_server, WARMING_REDIS_URL="redis://127.0.0.1:1/0"))
    assert done.returncode == 1
    assert warming_lines(done.stderr)[0].startswith(
        "warming-tasks: cannot reach the cache Redis at redis://127.0.0.1:1/0: "
    )


def test_compose_runs_a_listener_health_checked_by_its_heartbeat() -> None:
    services = yaml.safe_load((REPO / "docker" / "compose.yaml").read_text())["services"]
    listen, worker = services["listen"], services["worker"]
    assert listen["command"] == ["warming-tasks", "listen"]
    assert listen["healthcheck"]["test"] == ["CMD", "warming-tasks", "listen", "--health"]
    assert listen["environment"] == worker["environment"], "one image, the same settings"
    assert listen["build"] == worker["build"]
    assert listen["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert "ports" not in listen, "it serves nothing"
