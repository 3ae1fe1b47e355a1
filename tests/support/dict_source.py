"""A source answering from a dict, for batches run without Celery; it can play the
application in the middle of a load."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

Entry = tuple[object, object]


class DictSource:
    """Answers from a dict; ``during_load`` plays the application mid-batch."""

    def __init__(
        self,
        data: Mapping[str, Entry],
        during_load: Callable[[], object] | None = None,
        bulk: bool = True,
    ) -> None:
        self.data = dict(data)
        self.during_load = during_load
        if not bulk:
            self.load_many = None  # type: ignore[assignment]

    def hot_keys(self) -> list[str]:
        return list(self.data)

    def load(self, key: str) -> Entry | None:
        value = self.data.get(key)
        if isinstance(value, Exception):
            raise value
        return value

    def load_many(self, keys: Sequence[str]) -> Mapping[str, Entry]:
        if self.during_load:
            self.during_load()
        if any(isinstance(self.data.get(k), Exception) for k in keys):
            raise RuntimeError("batch query failed")
        return {k: self.data[k] for k in keys if k in self.data}
