"""``settings``: WARMING_* variables read and checked, a bad value named in one line
(passwords masked), which strategy may run, the queue and the list of sources."""

from __future__ import annotations

import re

import pytest

from warming_tasks.errors import SettingsError
from warming_tasks.kinds import Kind
from warming_tasks.settings import Strategy, load_settings, redact_url

GOOD_SETTINGS = [
    ("WARMING_BATCH_SIZE", "1", "batch_size", 1),
    ("WARMING_STRATEGY", "Background_Refresh", "strategy", Strategy.BACKGROUND_REFRESH),
    ("WARMING_ENABLE_PREDICTION", "false", "enable_prediction", False),
    ("WARMING_REDIS_URL", "unix:///tmp/redis.sock", "redis_url", "unix:///tmp/redis.sock"),
    ("WARMING_REDIS_URL", "rediss://h:6380/0", "redis_url", "rediss://h:6380/0"),
    ("WARMING_TTL_JITTER", "0", "ttl_jitter", 0.0),
    ("WARMING_PREDICTIVE_INTERVAL", "0", "predictive_interval", 0.0),
    ("WARMING_SOURCE", "pkg.mod:Factory.build", "source", "pkg.mod:Factory.build"),
    ("WARMING_KEY_PREFIX", "app:", "key_prefix", "app:"),
    ("WARMING_BATCH_SIZE", "", "batch_size", 1000),  # empty counts as unset
]


@pytest.mark.parametrize(("var", "value", "field", "expected"), GOOD_SETTINGS)
def test_good_settings(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, field: str, expected: object
) -> None:
    monkeypatch.setenv(var, value)
    assert getattr(load_settings(), field) == expected


BAD_SETTINGS = [
    ("WARMING_BATCH_SIZE", "0"),
    ("WARMING_BATCH_SIZE", "ten"),
    ("WARMING_STRATEGY", "sometimes"),
    ("WARMING_REFRESH_INTERVAL", "0"),
    ("WARMING_REFRESH_THRESHOLD", "-5"),
    ("WARMING_ENABLE_PREDICTION", "maybe"),
    ("WARMING_PREDICTIVE_LIMIT", "0"),
    ("WARMING_PREDICTIVE_INTERVAL", "-1"),
    ("WARMING_TTL_JITTER", "1"),
    ("WARMING_TTL_JITTER", "-0.1"),
    ("WARMING_DECAY_HALF_LIFE", "0"),
    ("WARMING_TRACKER_MAX_KEYS", "0"),
    ("WARMING_FLUSH_INTERVAL", "0"),
    ("WARMING_SOURCE", "no_colon_here"),
    ("WARMING_REDIS_URL", "http://localhost:6379"),
    ("WARMING_REDIS_CLUSTER", "sometimes"),
    ("WARMING_MAX_VALUE_BYTES", "0"),
    ("WARMING_REFRESH_INTERVAL", "inf"),
    ("WARMING_FLUSH_INTERVAL", "nan"),
]


@pytest.mark.parametrize(("var", "value"), BAD_SETTINGS)
def test_bad_settings_name_the_variable_and_value(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(f"{var}={value} is invalid: ")
    assert "\n" not in message


def test_a_bad_redis_url_never_shows_its_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARMING_REDIS_URL", "http://user:hunter2@cache:6379")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert "hunter2" not in str(caught.value)
    assert "user:***@cache:6379" in str(caught.value)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("amqp://guest:guest@127.0.0.1:5672//", "amqp://guest:***@127.0.0.1:5672//"),
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("redis://:pw@h:notaport/0", "redis://:***@h:notaport/0"),
        ("redis://h/0?password=secret&db=1", "redis://h/0?password=***&db=1"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize(
    ("strategy", "prediction", "kind", "runs"),
    [
        ("all", "true", Kind.PRELOAD, True),
        ("all", "false", Kind.PREDICTIVE, False),
        ("preload", "true", Kind.REFRESH, False),
        ("background_refresh", "true", Kind.REFRESH, True),
        ("predictive", "true", Kind.PRELOAD, False),
        ("none", "true", Kind.PRELOAD, False),
    ],
)
def test_strategy_switches(
    monkeypatch: pytest.MonkeyPatch, strategy: str, prediction: str, kind: Kind, runs: bool
) -> None:
    monkeypatch.setenv("WARMING_STRATEGY", strategy)
    monkeypatch.setenv("WARMING_ENABLE_PREDICTION", prediction)
    reason = load_settings().allows(kind.strategy)
    assert (reason is None) is runs
    if not runs:
        assert "WARMING_" in (reason or "")


@pytest.mark.parametrize(
    ("value", "ok"), [("warming", True), ("cache.warm-1", True), ("has space", False), ("", True)]
)
def test_queue_names(monkeypatch: pytest.MonkeyPatch, value: str, ok: bool) -> None:
    monkeypatch.setenv("WARMING_QUEUE", value)
    if ok:
        assert load_settings().queue == (value or None)
    else:
        with pytest.raises(SettingsError, match="WARMING_QUEUE=has space is invalid"):
            load_settings()


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("products", "WARMING_SOURCES=products is invalid: 'products' is not name=module"),
        ("a=m:A,a=m:B", "WARMING_SOURCES=a=m:A,a=m:B is invalid: the source 'a' is named twice"),
        ("default=m:A", "is the name of WARMING_SOURCE's one source: choose another"),
    ],
)
def test_bad_source_lists_are_one_line_naming_the_setting(value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)):
        load_settings(sources=value)


def test_sources_are_named_in_order_and_one_source_is_default() -> None:
    specs = load_settings(sources=" products=shop.cache:P , users=shop.cache:U").source_specs()
    assert specs == {"products": "shop.cache:P", "users": "shop.cache:U"}
    assert load_settings(source="shop.cache:P").source_specs() == {"default": "shop.cache:P"}
    with pytest.raises(SettingsError, match="WARMING_SOURCE and WARMING_SOURCES are both set"):
        load_settings(source="shop.cache:P", sources="a=shop.cache:P")
