"""``QuerySetSource``: a Django model's rows as a data source, one query per batch."""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from ..errors import SourceError
from ..sources import suggested_batch_size

CHUNK = 2000  # rows the listing reads per round trip (Django's iterator chunk size)


BATCH_SIZE = 5000
IN_LIST_PARAMETERS = 1000


class QuerySetSource:
    """Hot keys streamed from ``queryset``, loaded a batch per query.

        QuerySetSource(Product.objects.filter(active=True), key="product:{pk}", ttl=3600)

    ``key`` is a format string over the model's fields (``{pk}``, ``{slug}``, …);
    ``hot_keys`` reads only those fields. ``load_many`` runs one query per batch,
    ``field__in`` the values the keys hold, and gives each key the model instance,
    or what ``value`` (a callable of the instance) makes of it, for ``ttl`` seconds.
    The queryset decides the rows and their order (``order_by``, ``select_related``).
    """

    def __init__(
        self,
        queryset: Any,
        key: str = "{pk}",
        ttl: int = 3600,
        value: Callable[[Any], Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        fields = [name for _, name, _, _ in string.Formatter().parse(key) if name is not None]
        if not fields or any(not name.isidentifier() for name in fields):
            raise SourceError(
                f"QuerySetSource key={key!r} is invalid: expected a format string over the "
                "model's fields, for example 'product:{pk}'"
            )
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise SourceError(f"QuerySetSource ttl={ttl!r} is invalid: expected seconds, > 0")
        self.queryset, self.key, self.ttl, self.value = queryset, key, ttl, value
        self.fields = list(dict.fromkeys(fields))
        self._pattern = re.compile(_pattern(key))
        # What it declares for its runs (``warming_tasks.sources``): the keys it
        # claims, for predictive loads and ``warm`` (its key's shape), and its batch
        # size: 5,000 unless WARMING_BATCH_SIZE is set (`python -m
        # benchmarks.django_preload`: 1.12x the developer's loop at 1,000, 1.27x at
        # 5,000; 2026-12-06).
        self.keys = re.sub(r"\{[^}]*\}", "*", key)
        self.batch_size = batch_size if batch_size is not None else suggested_batch_size(BATCH_SIZE)

    def hot_keys(self) -> Iterator[str]:
        rows = self.queryset.values_list(*self.fields).iterator(chunk_size=CHUNK)
        for row in rows:
            yield self.key.format(**dict(zip(self.fields, row, strict=True)))

    def load_many(self, keys: Sequence[str]) -> Mapping[str, tuple[Any, int]]:
        wanted = [w for w in map(self._values, keys) if w is not None]
        # At most IN_LIST_PARAMETERS a query (Oracle's IN list, SQL Server's
        # parameters): a batch of 5,000 keys is a few queries.
        step = max(1, IN_LIST_PARAMETERS // len(self.fields))
        found: dict[str, tuple[Any, int]] = {}
        for start in range(0, len(wanted), step):
            found.update(self._query(wanted[start : start + step]))
        return found

    def _query(self, wanted: Sequence[dict[str, Any]]) -> dict[str, tuple[Any, int]]:
        rows = self.queryset.all()
        # A sliced queryset (the top N by some order) chooses the hot keys; the rows
        # of a batch are then looked up by key, whatever the slice.
        rows.query.clear_limits()
        if len(self.fields) == 1:
            (field,) = self.fields
            rows = rows.filter(**{f"{field}__in": [w[field] for w in wanted]})
        else:
            from django.db.models import Q  # noqa: PLC0415 - Django's, only with several fields

            match = Q()
            for w in wanted:
                match |= Q(**w)
            rows = rows.filter(match)
        make = self.value
        found: dict[str, tuple[Any, int]] = {}
        for row in rows:
            name = self.key.format(**{field: getattr(row, field) for field in self.fields})
            found[name] = (make(row) if make is not None else row, self.ttl)
        return found

    def load(self, key: str) -> tuple[Any, int] | None:
        return self.load_many([key]).get(key)

    def _values(self, key: str) -> dict[str, Any] | None:
        """The field values ``key`` names, as the model's fields take them; None for
        a key this source did not make (no such row: it is missing, not failed)."""
        match = self._pattern.fullmatch(key)
        if match is None:
            return None
        from django.core.exceptions import ValidationError  # noqa: PLC0415

        meta = self.queryset.model._meta
        values: dict[str, Any] = {}
        for name, raw in match.groupdict().items():
            field = meta.pk if name == "pk" else meta.get_field(name)
            try:
                values[name] = field.to_python(raw)
            except ValidationError:
                return None
        return values


def _pattern(key: str) -> str:
    """A regular expression that takes a key made from ``key`` back to its fields."""
    parts = []
    seen: set[str] = set()
    for literal, name, _, _ in string.Formatter().parse(key):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
    return "".join(parts)
