"""A data source on a SQL database, through SQLAlchemy Core: PostgreSQL,
MySQL/MariaDB, SQLite, or any database SQLAlchemy has a dialect for.

    # myapp/cache.py, then WARMING_SOURCE=myapp.cache:source
    from warming_tasks.sql import SQLSource

    source = SQLSource(
        "postgresql+psycopg://app@db/shop",
        hot_keys="SELECT id FROM products WHERE active ORDER BY id",
        load="SELECT id, body, 3600 FROM products WHERE id = ANY(:keys)",
        prefix="product:",
        key_type=int,
    )

``hot_keys`` lists the hot keys (first column), streamed through a server-side
cursor, never held whole. ``load`` loads one batch: it gets the batch as
``:keys`` (``= ANY(:keys)`` on PostgreSQL; ``IN :keys`` anywhere, which
SQLAlchemy expands to one parameter per key) and returns the key, the value and,
unless ``ttl`` is given, the TTL in seconds. With ``prefix``, cache keys are
``prefix + first column`` and ``:keys`` holds the keys without it, as
``key_type`` makes them (``key_type=int`` for integer ids). ``value``
turns a row into what is cached (any object the cache format can store: under
``WARMING_FORMAT=django`` a dict, say); by default the second column is.

One connection pool per worker process, opened on first use (after the pool
forks). A query the database refuses fails that batch's keys with the
database's own message; a database that cannot be reached is retried as a cache
outage is (``SourceUnavailable``). URLs are never shown with their password.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, Row, TextClause, bindparam, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from .errors import SourceUnavailable

# ``IN :keys`` (with or without parentheses) takes a list expanded per key;
# anything else (PostgreSQL's ``= ANY(:keys)``) takes it as one array.
_EXPANDING = re.compile(r"\bIN\s*\(?\s*:keys\b", re.IGNORECASE)
_TTL = 2  # the column that holds the TTL, unless ttl= is given
_PARENS = re.compile(r"\bIN\s*\(\s*:keys\s*\)", re.IGNORECASE)


class SQLQueryError(Exception):
    """The database refused a query: its message, without the statement's parameters."""


class SQLSource:
    """Hot keys and batches of values from SQL queries; see the module's docstring."""

    def __init__(  # noqa: PLR0913 - one argument per part of the source
        self,
        url: str,
        hot_keys: str,
        load: str,
        *,
        ttl: int | None = None,
        prefix: str = "",
        key_type: Callable[[str], Any] = str,
        value: Callable[[Row[Any]], Any] | None = None,
        stream_rows: int = 10_000,
        engine_options: Mapping[str, Any] | None = None,
    ) -> None:
        self.url = make_url(url)  # a bad URL fails here, at worker start
        self.hot_keys_query = text(hot_keys)
        self.load_query = _batch_query(load)
        self.ttl = ttl
        self.prefix = prefix
        self.key_type = key_type
        self.value = value
        self.stream_rows = stream_rows
        self.engine_options = dict(engine_options or {})
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SQLSource({self.url.render_as_string(hide_password=True)!r})"

    @property
    def engine(self) -> Engine:
        """This process's pool: a forked child never shares its parent's connections."""
        with self._lock:
            if self._engine is None or self._pid != os.getpid():
                if self._engine is not None:
                    self._engine.dispose(close=False)  # the parent's, left to the parent
                self._engine = create_engine(self.url, **self.engine_options)
                self._pid = os.getpid()
            return self._engine

    def close(self) -> None:
        """Close this process's pool (a worker's goes with the process)."""
        with self._lock:
            if self._engine is not None and self._pid == os.getpid():
                self._engine.dispose()
            self._engine = None

    def hot_keys(self) -> Iterator[str]:
        with _reported(self), self.engine.connect() as conn:
            streamed = conn.execution_options(stream_results=True, yield_per=self.stream_rows)
            for row in streamed.execute(self.hot_keys_query):
                yield f"{self.prefix}{row[0]}"

    def load_many(self, keys: Sequence[str]) -> dict[str, tuple[Any, int]]:
        prefix = self.prefix
        ids = [self.key_type(key.removeprefix(prefix)) for key in keys]
        with _reported(self), self.engine.connect() as conn:
            rows = conn.execute(self.load_query, {"keys": ids}).all()
        found: dict[str, tuple[Any, int]] = {}
        for row in rows:
            ttl = self.ttl if self.ttl is not None else (row[2] if len(row) > _TTL else None)
            if ttl is None:
                raise SQLQueryError("the load query returned no TTL column and no ttl= is set")
            found[f"{prefix}{row[0]}"] = (self.value(row) if self.value else row[1], ttl)
        return found


def _batch_query(sql: str) -> TextClause:
    if ":keys" not in sql:
        raise ValueError("the load query must take the batch as :keys")
    if _EXPANDING.search(sql):
        # SQLAlchemy renders the parentheses of an expanding list itself.
        return text(_PARENS.sub("IN :keys", sql)).bindparams(bindparam("keys", expanding=True))
    return text(sql)


class _reported:
    """Database errors as the suite classifies them: unreachable (retried) or refused."""

    def __init__(self, source: SQLSource) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return
        where = self.source.url.render_as_string(hide_password=True)
        if isinstance(exc, DBAPIError):
            message = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
            if exc.connection_invalidated or _unreachable(exc):
                raise SourceUnavailable(f"{where}: {message}") from None
            raise SQLQueryError(message) from None
        raise SQLQueryError(str(exc).splitlines()[0]) from None


def _unreachable(exc: DBAPIError) -> bool:
    """A connection that could not be made (refused, reset, timed out)."""
    from sqlalchemy.exc import InterfaceError, OperationalError  # noqa: PLC0415 - rarely reached

    if not isinstance(exc, OperationalError | InterfaceError):
        return False
    text_ = str(exc.orig).lower()
    return any(
        word in text_
        for word in ("connect", "connection", "server closed", "timeout", "timed out", "gone away")
    )
