"""The SQL source against real databases: this machine's PostgreSQL and MariaDB
(each in a database the test creates and drops) and SQLite, then a preload
through a real worker."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from warming_tasks import runtime
from warming_tasks.cli.embedded import RedisProcess, free_port
from warming_tasks.errors import SourceError, SourceUnavailable
from warming_tasks.source import DataSource, load_batch
from warming_tasks.sql import SQLQueryError, SQLSource

from .helpers import Processes, caller_app, celery_env, cli
from .support.installed import not_answering
from .test_formats import FRAMEWORKS, Framework, app_cache, framework_env

pytestmark = pytest.mark.integration

ROWS = 2_500
SERVERS = {
    "postgresql": "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/mysql",
}
NAMES = {"postgresql": "PostgreSQL", "mariadb": "MariaDB"}
# Each dialect's way of taking a list: PostgreSQL an array, the others an expanded IN.
LOAD = {
    "postgresql": "SELECT id, body, ttl FROM products WHERE id = ANY(:keys)",
    "mariadb": "SELECT id, body, ttl FROM products WHERE id IN :keys",
    "sqlite": "SELECT id, body, ttl FROM products WHERE id IN (:keys)",
}


@contextlib.contextmanager
def database_on(kind: str) -> Iterator[str]:
    """A database of our own on this machine's server of ``kind``, dropped after."""
    admin = create_engine(SERVERS[kind], isolation_level="AUTOCOMMIT")
    name = f"warming_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
    except OperationalError as exc:
        admin.dispose()
        if "refused" not in str(exc.orig).lower():
            raise  # a server that is there but will not let us in is a failure
        not_answering(NAMES[kind], exc.orig)
    try:
        yield make_url(SERVERS[kind]).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            force = " WITH (FORCE)" if kind == "postgresql" else ""
            conn.execute(text(f"DROP DATABASE {name}{force}"))
        admin.dispose()


@pytest.fixture(scope="module", params=["postgresql", "mariadb", "sqlite"])
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(kind, URL) of a database holding ``products``: ids 1..ROWS, a body and a TTL."""
    kind = str(request.param)
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'shop.db'}"
        else:
            url = stack.enter_context(database_on(kind))
        fill(url)
        yield kind, url


def fill(url: str) -> None:
    """``products``: ids 1..ROWS, a body and a TTL of 600 + id."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE products (id INTEGER PRIMARY KEY, body TEXT, ttl INTEGER)"))
        conn.execute(
            text("INSERT INTO products (id, body, ttl) VALUES (:id, :body, :ttl)"),
            [{"id": i, "body": f"body of {i}", "ttl": 600 + i} for i in range(1, ROWS + 1)],
        )
    engine.dispose()


@contextlib.contextmanager
def products(kind: str, url: str, **options: object) -> Iterator[SQLSource]:
    with contextlib.closing(
        SQLSource(
            url,
            hot_keys="SELECT id FROM products ORDER BY id",
            load=LOAD[kind],
            prefix="product:",
            key_type=int,
            stream_rows=100,
            **options,  # type: ignore[arg-type]
        )
    ) as source:
        yield source


def test_hot_keys_stream_every_row_and_a_batch_loads_values_and_ttls(
    database: tuple[str, str],
) -> None:
    with products(*database) as source:
        keys, loaded = (
            list(source.hot_keys()),
            source.load_many(["product:7", "product:2500", "product:99999"]),
        )
    assert keys == [f"product:{i}" for i in range(1, ROWS + 1)]
    assert loaded == {
        "product:7": ("body of 7", 607),
        "product:2500": ("body of 2500", 3100),
    }, "a key without a row is missing, not failed"


def test_a_batch_of_the_declared_size_loads_whole_on_every_database(
    database: tuple[str, str],
) -> None:
    kind, url = database
    with products(kind, url) as source:
        assert source.batch_size == 5000  # what it declares, WARMING_BATCH_SIZE unset
        assert source.keys == "product:*"
        keys = [f"product:{i}" for i in range(1, 2501)]
        source.load_many(keys[:1])  # the pool's own first queries, before counting
        queries: list[str] = []
        event.listen(source.engine, "before_cursor_execute", lambda *args: queries.append(args[2]))
        loaded = source.load_many(keys)
    assert sorted(loaded) == sorted(keys)
    loads = [q for q in queries if "products" in q]
    # An IN list goes in queries of 1,000 keys; PostgreSQL's array is one parameter.
    assert len(loads) == (1 if kind == "postgresql" else 3), loads


def test_a_batch_size_the_user_set_wins_over_the_declared_one(
    database: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WARMING_BATCH_SIZE", "700")
    runtime.reset()
    try:
        with products(*database) as source:
            assert source.batch_size is None  # the setting applies
        with products(*database, batch_size=300) as source:
            assert source.batch_size == 300
    finally:
        monkeypatch.delenv("WARMING_BATCH_SIZE")
        runtime.reset()


def test_a_row_becomes_the_object_the_application_caches(database: tuple[str, str]) -> None:
    with products(*database, ttl=60, value=lambda row: {"id": row[0], "body": row[1]}) as source:
        loaded = source.load_many(["product:3"])
    assert loaded == {"product:3": ({"id": 3, "body": "body of 3"}, 60)}


def test_a_query_the_database_refuses_fails_with_its_message(database: tuple[str, str]) -> None:
    kind, url = database
    source = SQLSource(url, "SELECT id FROM products", LOAD[kind].replace("products", "no_such"))
    with contextlib.closing(source), pytest.raises(SQLQueryError, match="no_such"):
        source.load_many(["1"])


def test_a_refused_query_fails_the_whole_batch_in_one_query(database: tuple[str, str]) -> None:
    kind, url = database
    source = SQLSource(url, "SELECT id FROM products", LOAD[kind].replace("products", "no_such"))
    queries: list[str] = []
    with contextlib.closing(source):
        event.listen(source.engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
        loaded = load_batch(cast(DataSource, source), ["1", "2", "3"])  # batch-only
    assert len(queries) == 1, "not retried key by key: no key is at fault"
    assert set(loaded.failed) == {"1", "2", "3"}
    assert all("SQLQueryError" in r and "no_such" in r for r in loaded.failed.values())


def test_a_load_query_that_does_not_bind_keys_is_refused_at_start() -> None:
    with pytest.raises(SourceError, match=r"CAST\(:keys AS int\[\]\)"):
        SQLSource("sqlite://", "SELECT 1", "SELECT id FROM t WHERE id = ANY(:keys::int[])")


def test_a_refused_login_fails_at_once_without_showing_the_password() -> None:
    with contextlib.closing(
        SQLSource("mysql+pymysql://root@127.0.0.1:3306/mysql", "SELECT 1", LOAD["mariadb"])
    ) as probe:
        try:
            probe.load_many(["1"])
        except SourceUnavailable as exc:
            not_answering("MariaDB", exc)
        except SQLQueryError:
            pass  # there, but no table: what matters is that it answered
    source = SQLSource(
        "mysql+pymysql://root:sekret@127.0.0.1:3306/mysql", "SELECT 1", LOAD["mariadb"]
    )
    with contextlib.closing(source), pytest.raises(SQLQueryError, match="Access denied") as raised:
        source.load_many(["1"])
    assert "sekret" not in str(raised.value)


def test_an_unreachable_database_is_retried_and_its_password_never_shown() -> None:
    url = f"postgresql+psycopg://app:sekret@127.0.0.1:{free_port()}/shop"
    source = SQLSource(url, "SELECT 1", "SELECT 1 WHERE 1 = ANY(:keys)")
    with contextlib.closing(source), pytest.raises(SourceUnavailable) as raised:
        source.load_many(["1"])
    assert "sekret" not in str(raised.value)
    assert "127.0.0.1" in str(raised.value)
    assert "sekret" not in repr(source)
    in_query = SQLSource(
        f"{url.replace(':sekret', '')}?password=sekret", "SELECT 1", "SELECT :keys"
    )
    with contextlib.closing(in_query), pytest.raises(SourceUnavailable) as raised:
        in_query.load_many(["1"])
    assert "sekret" not in str(raised.value)
    assert "sekret" not in repr(in_query)


def test_a_preload_through_the_sql_source_warms_every_row(
    database: tuple[str, str], procs: Processes, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    kind, url = database
    env = celery_env(
        redis_server,
        WARMING_SOURCE="sql_sources:catalogue",
        TEST_SQL_URL=url,
        WARMING_BATCH_SIZE=500,
    )
    procs.worker(env, 2, True)  # this test's own: stopped at its end
    cache.delete(*[f"product:{i}" for i in range(1, ROWS + 1)])
    done = cli("preload", "--json", env=env)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["loaded"], summary["missing"], summary["failed"]) == (ROWS, 0, 0), kind
    assert cache.get("product:42") == b"body of 42"
    ttl = cache.ttl("product:42")
    assert 0.9 * 642 - 1 <= ttl <= 642  # the row's TTL, jittered by up to 10%


@pytest.mark.parametrize("fw", FRAMEWORKS, ids=[fw.id for fw in FRAMEWORKS])
def test_rows_become_objects_the_application_framework_reads_back(
    fw: Framework, procs: Processes, redis_server: RedisProcess, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    fill(url)
    env = celery_env(
        redis_server, WARMING_SOURCE="sql_sources:catalogue_objects", TEST_SQL_URL=url, **fw.warming
    )
    procs.worker(env | framework_env(fw, redis_server))
    done = cli("preload", "--json", env=env | framework_env(fw, redis_server))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["loaded"] == ROWS
    read = app_cache(fw, redis_server, "get", "product:42", "product:99999")
    assert read["values"] == {
        "product:42": {"id": 42, "body": "body of 42"},
        # No row, never written: Django's get tells a miss apart, Flask-Caching's is None.
        "product:99999": "<missing>" if fw.framework == "django" else None,
    }


class Forwarder:
    """A port of ours that forwards to the database once opened: a database that
    is unreachable, then comes back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._server: socket.socket | None = None

    def open(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def close(self) -> None:
        if self._server is not None:
            self._server.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for end in (a, b):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()


@pytest.mark.parametrize("down_for", ["the dispatcher", "the batches"])
def test_a_database_that_comes_back_is_retried_until_every_row_is_warmed(
    down_for: str, procs: Processes, redis_server: RedisProcess, cache: redis.Redis
) -> None:
    with database_on("postgresql") as url:
        fill(url)
        proxy = Forwarder(("127.0.0.1", 5432))
        down = make_url(url).set(port=proxy.port).render_as_string(hide_password=False)
        if down_for == "the dispatcher":
            source = {"WARMING_SOURCE": "sql_sources:catalogue", "TEST_SQL_URL": down}
        else:  # the hot keys list, but every batch finds the database down
            source = {
                "WARMING_SOURCE": "sql_sources:SplitCatalogue",
                "TEST_SQL_URL": url,
                "TEST_SQL_LOAD_URL": down,
            }
        worker = procs.worker(celery_env(redis_server, WARMING_BATCH_SIZE=500, **source))
        app = caller_app(redis_server.url(1), redis_server.url(2))
        try:
            result = app.send_task("warming_tasks.preload")
            worker.wait_for("SourceUnavailable", timeout=30)  # a retry, not a failure
            assert not result.ready(), "the run waits for the database"
            proxy.open()  # the database is back
            summary = result.get(timeout=120)
        finally:
            proxy.close()
            app.close()
    assert (summary["loaded"], summary["failed"], summary["batches"]) == (ROWS, 0, 5)
    assert cache.get("product:2500") == b"body of 2500"


def test_a_connection_dropped_mid_query_is_retried_on_a_new_one() -> None:
    with database_on("postgresql") as url:
        fill(url)
        name = f"warming_{uuid.uuid4().hex[:8]}"
        # A batch query slow enough to be cut off while the server runs it.
        slow = (
            "WITH pause AS (SELECT pg_sleep(1)) "
            "SELECT id, body, ttl FROM products, pause WHERE id = ANY(:keys)"
        )
        source = SQLSource(
            url,
            "SELECT id FROM products",
            slow,
            prefix="product:",
            key_type=int,
            engine_options={"connect_args": {"application_name": name}},
        )
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        terminated: list[int] = []

        def cut_off() -> None:
            with admin.connect() as conn:
                for _ in range(200):
                    pids = conn.execute(
                        text(
                            "SELECT pid FROM pg_stat_activity WHERE application_name = :name "
                            "AND state = 'active' AND query LIKE '%pg_sleep%'"
                        ),
                        {"name": name},
                    ).scalars()
                    for pid in pids:
                        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
                        terminated.append(pid)
                    if terminated:
                        return
                    threading.Event().wait(0.02)

        killer = threading.Thread(target=cut_off)
        try:
            with contextlib.closing(source):
                killer.start()
                with pytest.raises(SourceUnavailable) as raised:
                    source.load_many(["product:7", "product:8"])
                killer.join()
                assert terminated, "the query was never seen running"
                assert "terminating connection" in str(raised.value)
                # The pool drops the dead connection: the retry gets a new one.
                again = source.load_many(["product:7", "product:8"])
        finally:
            admin.dispose()
    assert again == {"product:7": ("body of 7", 607), "product:8": ("body of 8", 608)}
