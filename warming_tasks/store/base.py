"""What every part of the store shares: the client, the key prefix, the Lua scripts."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Any, ClassVar, Protocol

from redis.cluster import RedisCluster
from redis.commands.core import Script

from ..formats.raw import RawFormat
from ..retries import TRANSIENT
from .client import Client


@functools.cache
def script_text(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text()


def text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


class ScriptCall(Protocol):
    """A call of a Lua script that takes more than a few arguments, by name: the one
    place that packs its KEYS and ARGV in the order the script's header documents
    (each packer sits beside the code that calls its script)."""

    script: ClassVar[str]  # the script's name in lua/

    def key_names(self) -> list[str]:
        """KEYS, the suite's own keys before the store's prefix."""
        ...

    def argv(self) -> list[Any]: ...


@contextlib.contextmanager
def topology_guard(client: Any) -> Iterator[None]:
    """On a cluster, a node that stopped answering makes the client re-learn the
    slot map from the nodes still up, so the batch's retry finds the promoted
    replica instead of knocking on the dead master again."""
    try:
        yield
    except TRANSIENT:
        if isinstance(client, RedisCluster):
            with contextlib.suppress(Exception):
                client.nodes_manager.initialize()
        raise


class StoreBase:
    """The cache Redis as the suite sees it, with ``key_prefix`` applied to every key."""

    def __init__(
        self,
        client: Client,
        prefix: str = "",
        redis_key: Callable[[str | bytes], str | bytes] | None = None,
    ) -> None:
        """``prefix`` goes before the suite's own keys; ``redis_key`` names the cache's
        keys as the application's framework does (default: ``prefix + key``)."""
        self.client = client
        self.prefix = prefix
        self.key = redis_key or RawFormat(prefix).redis_key
        # On a cluster a batch's keys live on many slots: probes and writes go as
        # per-key commands in one pipeline per node instead of one script.
        self.cluster = isinstance(client, RedisCluster)
        self._scripts: dict[str, Script] = {}

    def _run(self, name: str, keys: Sequence[str | bytes], args: Sequence[Any]) -> Any:
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(script_text(name))
        with self._topology_guard():
            return script(keys=keys, args=args)

    def _call(self, call: ScriptCall) -> Any:
        return self._run(call.script, [self._own(key) for key in call.key_names()], call.argv())

    def _topology_guard(self) -> contextlib.AbstractContextManager[None]:
        return topology_guard(self.client)

    def _own(self, name: str) -> str:
        return f"{self.prefix}{name}"
