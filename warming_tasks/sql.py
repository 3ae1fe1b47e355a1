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
``batch_size`` is this source's batch size: 5,000 keys by default (measured), unless
``WARMING_BATCH_SIZE`` is set; an ``IN :keys`` list goes in queries of 1,000 keys.
Its keys are those that start with ``prefix``.

One connection pool per worker process, opened on first use (after the pool
forks). A query (or a login) the database refuses fails that batch's keys at once with
the database's own message (``SQLQueryError``); a database that cannot be
reached, is shutting down, or reports a deadlock is retried as a cache outage is
(``SourceUnavailable``). URLs are shown without their password.
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
from sqlalchemy.exc import TimeoutError as SATimeoutError

from .errors import SourceError, SourceRefused, SourceUnavailable
from .settings import redact_url
from .sources import suggested_batch_size

# ``IN :keys`` (with or without parentheses) takes a list expanded per key;
# anything else (PostgreSQL's ``= ANY(:keys)``) takes it as one array.
_EXPANDING = re.compile(r"\bIN\s*\(?\s*:keys\b", re.IGNORECASE)
_PARENS = re.compile(r"\bIN\s*\(\s*:keys\s*\)", re.IGNORECASE)
_TTL = 2  # the column that holds the TTL, unless ttl= is given
# A query per 5,000 keys: against PostgreSQL, a preload at 1,000 keys a batch spends
# its time in per-query round trips and task overhead (`python -m benchmarks --sql`:
# 1.18x the hand-written script at 1,000, 1.45x at 5,000; 2026-12-06).
BATCH_SIZE = 5000
IN_LIST_KEYS = 1000


class SQLQueryError(SourceRefused):
    """The database refused a query or our login: its message, without the
    statement's parameters. The batch's keys fail with it, in one query."""


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
        batch_size: int | None = None,
    ) -> None:
        self.url = make_url(url)  # a bad URL fails here, at worker start
        try:
            self.url.get_dialect().import_dbapi()  # and a missing driver too
        except ImportError as exc:
            raise SourceError(f"{self.where}: its driver is not installed ({exc})") from None
        self.hot_keys_query = text(hot_keys)
        self.load_query = _batch_query(load)
        self._expanding = bool(_EXPANDING.search(load))
        self.ttl = ttl
        self.prefix = prefix
        self.key_type = key_type
        self.value = value
        self.stream_rows = stream_rows
        # What this source declares for its runs (see ``warming_tasks.sources``): its
        # batch size, and the keys it claims for predictive loads and ``warm``.
        self.batch_size = batch_size if batch_size is not None else suggested_batch_size(BATCH_SIZE)
        self.keys = f"{prefix}*"
        # A pooled connection the database closed meanwhile (a restart, MySQL's
        # wait_timeout) is replaced before use instead of failing a batch.
        self.engine_options = {"pool_pre_ping": True, **(engine_options or {})}
        self._engine: Engine | None = None
        self._pid = 0
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        """The URL as it may be shown: no password, in the user part or the query."""
        return redact_url(self.url.render_as_string(hide_password=True))

    def __repr__(self) -> str:
        return f"SQLSource({self.where!r})"

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
        # An expanding IN list is one parameter per key: at most IN_LIST_KEYS a query
        # (Oracle takes 1,000 items a list, SQL Server 2,100 parameters a statement).
        step = IN_LIST_KEYS if self._expanding else max(1, len(ids))
        with _reported(self), self.engine.connect() as conn:
            rows = [
                row
                for start in range(0, len(ids), step)
                for row in conn.execute(self.load_query, {"keys": ids[start : start + step]})
            ]
        found: dict[str, tuple[Any, int]] = {}
        if self.ttl is None and rows and len(rows[0]) <= _TTL:
            raise SQLQueryError("the load query returned no TTL column and no ttl= is set")
        for row in rows:
            ttl = self.ttl if self.ttl is not None else row[_TTL]
            if ttl is None or int(ttl) <= 0:
                continue  # no TTL, or one already past: nothing worth caching
            found[f"{prefix}{row[0]}"] = (self.value(row) if self.value else row[1], int(ttl))
        return found


def _batch_query(sql: str) -> TextClause:
    if "keys" not in text(sql).compile().params:
        raise SourceError(
            "the load query must take the batch as :keys (for a cast on PostgreSQL, "
            f"CAST(:keys AS int[]) rather than :keys::int[]): {sql}"
        )
    if _EXPANDING.search(sql):
        # SQLAlchemy renders the parentheses of an expanding list itself.
        return text(_PARENS.sub("IN :keys", sql)).bindparams(bindparam("keys", expanding=True))
    return text(sql)


class _reported:
    """Database errors as the suite classifies them: unreachable or busy (retried
    later, ``SourceUnavailable``) or refused (the batch fails, ``SQLQueryError``)."""

    def __init__(self, source: SQLSource) -> None:
        self.source = source

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, _: Any) -> None:
        if exc is None or not isinstance(exc, SQLAlchemyError):
            return
        where = self.source.where
        if isinstance(exc, SATimeoutError):  # every pooled connection is in use
            raise SourceUnavailable(f"{where}: {exc}") from None
        if not isinstance(exc, DBAPIError):
            raise SQLQueryError(str(exc).splitlines()[0]) from None
        message = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        if exc.connection_invalidated or _retryable(exc.orig):
            raise SourceUnavailable(f"{where}: {message}") from None
        raise SQLQueryError(f"{where}: {message}") from None


# PostgreSQL SQLSTATEs worth another try: a lost or refused connection (class 08),
# a server shutting down (57P01-03), too many connections, a deadlock or a
# serialization failure; MySQL/MariaDB error numbers of the same.
_RETRY_SQLSTATE_CLASSES = ("08",)
_RETRY_SQLSTATES = frozenset({"57P01", "57P02", "57P03", "53300", "40P01", "40001"})
_RETRY_ERRNOS = frozenset({1040, 1053, 1205, 1213, 2002, 2003, 2006, 2013, 2055})
_FATAL_BUT_BUSY = ("starting up", "shutting down", "too many", "recovery mode")


def _retryable(orig: BaseException | None) -> bool:
    """Whether the driver's error says the database is unreachable or busy, not wrong."""
    if orig is None:
        return False
    sqlstate = getattr(orig, "sqlstate", None)  # psycopg
    if isinstance(sqlstate, str):
        return sqlstate.startswith(_RETRY_SQLSTATE_CLASSES) or sqlstate in _RETRY_SQLSTATES
    if sqlstate is None and type(orig).__module__.startswith("psycopg"):
        # A failed connect has no SQLSTATE: a server that answered FATAL refused us
        # (a login, a database), unless it was starting, stopping or full.
        message = str(orig)
        return "FATAL:" not in message or any(m in message for m in _FATAL_BUT_BUSY)
    errno = orig.args[0] if orig.args and isinstance(orig.args[0], int) else None
    return errno in _RETRY_ERRNOS  # pymysql, mysqlclient
