"""``warming-tasks listen``'s pure parts, with no server: each format's inverse against
its forward key function, the key map, the notification flags and the estimate of
misses lost while no listener ran."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any, cast

import pytest

from warming_tasks.errors import SettingsError
from warming_tasks.formats import app_key_of
from warming_tasks.formats.cachelib_format import CachelibFormat
from warming_tasks.formats.django_format import DjangoFormat
from warming_tasks.formats.raw import RawFormat
from warming_tasks.listen.flags import missing, with_key_misses
from warming_tasks.listen.keys import KeyMap, key_map_for
from warming_tasks.listen.listener import Listener
from warming_tasks.listen.lost import lost_between
from warming_tasks.store.listen import ServerMisses

from .helpers import process_env
from .support.listen_formats import NoInverse, Upper, WrongInverse

KEYS = ["product:42", "a:b:c", "with space", "ünïcode", ":leading", "{warming}:like"]


def django_cache(**params: object) -> object:
    """Django's own RedisCache, built without settings and without connecting."""
    from django.core.cache.backends.redis import RedisCache  # noqa: PLC0415

    return RedisCache("redis://127.0.0.1:1/0", params)


@pytest.mark.parametrize(
    "fmt",
    [
        RawFormat(""),
        RawFormat("app:"),
        CachelibFormat("flask_cache_"),
        DjangoFormat(cache=django_cache()),
        DjangoFormat(cache=django_cache(KEY_PREFIX="shop", VERSION=3)),
        DjangoFormat(cache=django_cache(KEY_PREFIX="shop:v2", VERSION=7)),
    ],
    ids=["raw", "raw-prefix", "cachelib", "django", "django-prefix", "django-colon-prefix"],
)
def test_each_format_inverts_its_key_function(fmt: RawFormat | DjangoFormat) -> None:
    for key in KEYS:
        redis_key = fmt.redis_key(key)
        assert isinstance(redis_key, str)
        assert fmt.app_key(redis_key) == key, redis_key


@pytest.mark.parametrize(
    ("fmt", "not_its_own"),
    [
        (RawFormat("app:"), ["other:product:42", "ap:x", ""]),
        (CachelibFormat("flask_cache_"), ["product:42", "flask_cach_x"]),
        (DjangoFormat(cache=django_cache()), ["product:42", ":2:product:42", "x:1:product:42"]),
        (
            DjangoFormat(cache=django_cache(KEY_PREFIX="shop", VERSION=3)),
            [":1:product:42", "shop:1:product:42", "shop:31:x", "shopx:3:x"],
        ),
    ],
    ids=["raw", "cachelib", "django", "django-prefix"],
)
def test_keys_of_another_prefix_or_version_are_not_the_applications(
    fmt: RawFormat | DjangoFormat, not_its_own: list[str]
) -> None:
    assert [fmt.app_key(name) for name in not_its_own] == [None] * len(not_its_own)


def key_func(key: str, prefix: str, version: int) -> str:
    return f"{version}/{prefix}/{key}"


def test_a_custom_django_key_function_without_a_reverse_cannot_be_inverted() -> None:
    fmt = DjangoFormat(cache=django_cache(KEY_FUNCTION=key_func))
    with pytest.raises(SettingsError) as raised:
        key_map_for(fmt, "django", "")
    assert str(raised.value) == (
        "WARMING_FORMAT=django cannot map a Redis key back to the application's key: the "
        "cache 'default' names keys with its own KEY_FUNCTION "
        "tests.test_listen_units.key_func; give it a REVERSE_KEY_FUNCTION (django-redis), or "
        "name a format of your own with an app_key() method in WARMING_FORMAT"
    )


DJANGO_REDIS_ROUND_TRIP = """
import json, sys
from warming_tasks.formats.django_format import DjangoFormat
fmt = DjangoFormat("default")
keys = json.loads(sys.argv[1])
print(json.dumps({
    "back": [fmt.app_key(fmt.redis_key(k)) for k in keys],
    "others": [fmt.app_key(n) for n in ("shop:1:x", ":3:x", "x")],
}))
"""


@pytest.mark.parametrize("reverse", [False, True], ids=["default-key-function", "reverse"])
def test_django_redis_keys_invert_too(reverse: bool) -> None:
    """django-redis reads Django's settings as it is built: a process of its own. A key
    function of the application's own is inverted by its REVERSE_KEY_FUNCTION."""
    env = {
        "DJANGO_SETTINGS_MODULE": "django_settings",
        "TEST_DJANGO_BACKEND": "django_redis",
        "TEST_DJANGO_KEY_PREFIX": "shop",
        "TEST_DJANGO_VERSION": "3",
    }
    if reverse:
        env["TEST_DJANGO_KEY_FUNCTION"] = "listen_formats.prefixed_key"
        env["TEST_DJANGO_REVERSE_KEY_FUNCTION"] = "django_redis.util.default_reverse_key"
    done = subprocess.run(
        [sys.executable, "-c", DJANGO_REDIS_ROUND_TRIP, json.dumps(KEYS)],
        env=process_env(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"back": KEYS, "others": [None, None, None]}


def test_a_format_of_the_users_own_needs_app_key_to_listen() -> None:
    with pytest.raises(SettingsError) as raised:
        app_key_of(NoInverse(), "listen_formats:NoInverse")
    assert str(raised.value) == (
        "WARMING_FORMAT=listen_formats:NoInverse cannot map a Redis key back to the "
        "application's key: add an app_key(redis_key) method to NoInverse, the inverse of its "
        "redis_key() (None for a key that is not the application's)"
    )
    assert key_map_for(Upper(), "listen_formats:Upper", "")(b"UP:PRODUCT:1") == "product:1"


def test_an_inverse_that_does_not_give_the_key_back_is_refused_at_start() -> None:
    with pytest.raises(SettingsError) as raised:
        key_map_for(WrongInverse(), "listen_formats:WrongInverse", "")
    assert str(raised.value) == (
        "WARMING_FORMAT=listen_formats:WrongInverse cannot map a Redis key back to the "
        "application's key: its redis_key() stores warming:probe at mine:warming:probe, which "
        "its app_key() maps to 'mine:warming:probe'; make app_key() the inverse of redis_key()"
    )


@pytest.mark.parametrize(
    ("prefix", "redis_key", "app_key"),
    [
        ("", b"product:1", "product:1"),
        ("", b"{warming}:freq", None),  # the suite's own keys
        ("", b"{warming}:listen:probe", None),
        ("app:", b"app:{warming}:epoch", None),
        ("app:", b"app:product:1", "product:1"),
        ("app:", b"other:product:1", None),  # another application's
        ("app:", b"app:", None),  # the empty key
        ("", b"\xff\xfe", None),  # not UTF-8: the frequency set holds text
    ],
)
def test_the_key_map_ignores_what_is_not_the_applications(
    prefix: str, redis_key: bytes, app_key: str | None
) -> None:
    assert key_map_for(RawFormat(prefix), "raw", prefix)(redis_key) == app_key


def test_the_key_map_takes_the_suites_own_keys_under_its_own_prefix() -> None:
    """The suite's keys carry WARMING_KEY_PREFIX whatever the format names."""
    keys = KeyMap(DjangoFormat(cache=django_cache()).app_key, "ns:")
    assert keys(b":1:product:1") == "product:1"
    assert keys(b"ns:{warming}:freq") is None
    assert keys(b"{warming}:freq") is None  # not Django's key either


@pytest.mark.parametrize(
    ("flags", "lacking", "set_to"),
    [
        ("", "Em", "Em"),
        ("Em", "", "Em"),
        ("AKE", "m", "AKEm"),  # A does not include m
        ("Kx", "Em", "KxEm"),
        ("mE", "", "mE"),
        ("KEA", "m", "KEAm"),
    ],
)
def test_key_misses_need_E_and_m_and_the_flags_set_keep_the_rest(
    flags: str, lacking: str, set_to: str
) -> None:
    assert missing(flags) == lacking
    assert with_key_misses(flags) == set_to


RUN = "a" * 40
OTHER_RUN = "b" * 40


@pytest.mark.parametrize(
    ("saved", "now", "received_since", "lost"),
    [
        (None, ServerMisses(RUN, 500), 0, 0),  # the first listener: nothing to compare
        (ServerMisses(RUN, 100), ServerMisses(RUN, 130), 0, 30),  # down: all lost
        (ServerMisses(RUN, 100), ServerMisses(RUN, 130), 12, 18),  # reconnected: some seen
        (ServerMisses(RUN, 100), ServerMisses(RUN, 130), 40, 0),  # never below zero
        (ServerMisses(RUN, 100), ServerMisses(OTHER_RUN, 7), 0, 7),  # Redis restarted:
        (ServerMisses(RUN, 100), ServerMisses(OTHER_RUN, 7), 3, 7),  # what came before is not
    ],
)
def test_misses_lost_are_redis_misses_nobody_received(
    saved: ServerMisses | None, now: ServerMisses, received_since: int, lost: int
) -> None:
    assert lost_between(saved, now, received_since) == lost


# --- the checkpoint's order ---------------------------------------------------------------


class _Recorded:
    """A store and a tracker in one, writing down what the listener asks of them."""

    def __init__(self, holder: str | None, fresh: bool = False) -> None:
        self.holder = holder  # who holds the heartbeat; None: whoever asks
        self.fresh = fresh  # whether the heartbeat had expired and the call took it anew
        self.calls: list[str] = []

    def probe_key(self) -> bytes:
        return b"{warming}:listen:probe"

    def hold_listener(self, token: str, ttl_s: float) -> tuple[str, bool]:
        self.calls.append("hold")
        return self.holder or token, self.fresh

    def flush(self) -> int:
        self.calls.append("flush")
        return 3

    def discard(self) -> int:
        self.calls.append("discard")
        return 3

    def notify_flags(self) -> str:
        return "Em"

    def server_misses(self) -> ServerMisses:
        self.calls.append("server_misses")
        return ServerMisses("run", 10)

    def save_listen(self, **fields: object) -> None:
        self.calls.append("save")

    def miss_probe(self) -> None:
        self.calls.append("probe")


def _listener(recorded: _Recorded) -> Listener:
    listener = Listener(
        store=cast(Any, recorded),
        feed_client=cast(Any, None),
        key_map=cast(Any, None),
        tracker=cast(Any, recorded),
        interval_s=1.0,
        where="redis://cache:6379/0",
    )
    listener._holding = True
    listener._last = ServerMisses("run", 5)
    return listener


def test_a_checkpoint_keeps_the_heartbeat_before_it_flushes() -> None:
    recorded = _Recorded(holder=None)
    assert _listener(recorded)._checkpoint()
    assert recorded.calls[:2] == ["hold", "flush"]
    assert "save" in recorded.calls


def test_a_listener_that_lost_its_heartbeat_drops_what_it_holds_and_saves_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Stalled past the heartbeat's TTL, it was replaced: the other listener counts the
    misses it still holds (or estimates them lost), so it flushes and saves none."""
    recorded = _Recorded(holder='{"id": "other"}')
    listener = _listener(recorded)
    assert not listener._checkpoint()
    assert recorded.calls == ["hold", "discard"]
    assert not listener._holding, "it stands by, and does not give the other's heartbeat up"
    assert "dropped the 3 misses" in caplog.text


def test_a_listener_whose_heartbeat_lapsed_drops_what_it_holds_and_waits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Its heartbeat expired while it listened (a stall with nobody standing by, a
    restart of Redis) and the checkpoint took it anew: processes that warm found no
    listener meanwhile and may have probed the cheaper way, publishing misses it
    received. It drops them, keeps the heartbeat, and listens again only after the
    settle (every miss since its last checkpoint then estimated lost)."""
    recorded = _Recorded(holder=None, fresh=True)
    listener = _listener(recorded)
    listener._received = 12
    assert not listener._checkpoint()
    assert recorded.calls == ["hold", "discard"]
    assert listener._holding, "it keeps the heartbeat it took"
    assert listener._received == 0, "the next start estimates every miss since lost"
    assert "dropped the 3 misses" in caplog.text
    assert not listener._hold(), "it settles before it listens again"
