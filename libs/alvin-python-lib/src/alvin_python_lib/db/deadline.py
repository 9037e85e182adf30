"""Statements never outlive the caller's deadline.

A request handler that waits on a slow database keeps its worker thread long after its client
has given up (the client's deadline passed), until the server-wide ``statement_timeout``. With
enough such calls every thread waits and the process stops answering anything, health checks
included. Inside :func:`statement_deadline`, each transaction that begins on an engine made by
:func:`alvin_python_lib.db.create_engine` first runs ``SET LOCAL statement_timeout`` with the time
left, so PostgreSQL cancels the statement when the caller's deadline passes and the thread is
free again (the error arrives as ``OperationalError``, i.e. ``Unavailable``).

On a connection in autocommit (:meth:`alvin_python_lib.db.Database.reading`: reads outside an
explicit transaction) there is no transaction for ``SET LOCAL``: the limit is set for the
connection's session instead (``SET statement_timeout``), and only when the value it already
holds is not within the time left (between 90% and 100% of it), so back-to-back calls with the
same deadline cost no extra round trip. A connection keeps the value it was given (remembered in
its pool record): a later transaction on it without a deadline, or a read without one, puts the
server default (``TO DEFAULT``: the engine's ``statement_timeout_ms`` or the server's) back first.

::

    with statement_deadline(context.time_remaining()):   # a gRPC handler (alvin_grpc does this)
        handle(request)
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Dialect, Engine

from alvin_python_lib.db.errors import driver_error

__all__ = ["install_statement_deadline", "limit_connection", "statement_deadline"]

_deadline: ContextVar[float | None] = ContextVar("alvin_db_deadline", default=None)


@contextmanager
def statement_deadline(seconds: float | None) -> Iterator[None]:
    """Transactions begun inside the block get at most ``seconds`` (from now) per statement.

    ``None`` (no deadline) leaves the server's ``statement_timeout`` alone.
    """
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


# In a connection's pool record: the session-level statement_timeout (ms) it was given, absent
# while it has the server default.
_SESSION_TIMEOUT = "alvin.statement_timeout_ms"


def _limit(conn: Any) -> None:
    limit_connection(conn.connection.info, conn.connection.dbapi_connection, conn.dialect)


def limit_connection(record: dict[str, Any], dbapi_connection: Any, dialect: Dialect) -> None:
    """Bound the next statements on ``dbapi_connection`` by the current deadline.

    ``record`` is the pooled connection's ``info`` (it remembers a session-level limit). What the
    engine's ``begin`` event does; for code that runs the driver's cursor itself
    (:mod:`alvin_python_lib.db.driver_read`). PostgreSQL only: other dialects are left alone.
    """
    if dialect.name != "postgresql":
        return
    deadline = _deadline.get()
    left_ms = None if deadline is None else max(1, int((deadline - time.monotonic()) * 1000))
    current = record.get(_SESSION_TIMEOUT)
    if not getattr(dbapi_connection, "autocommit", False):
        # A transaction: SET LOCAL ends with it. It also hides a session-level value that an
        # earlier read left on this connection.
        if left_ms is not None:
            _run(dbapi_connection, dialect, f"SET LOCAL statement_timeout = {left_ms}")
        elif current is not None:
            _run(dbapi_connection, dialect, "SET LOCAL statement_timeout TO DEFAULT")
        return
    if left_ms is None:
        if current is not None:
            _run(dbapi_connection, dialect, "SET statement_timeout TO DEFAULT")
            del record[_SESSION_TIMEOUT]
        return
    if current is not None and left_ms * 9 // 10 <= current <= left_ms:
        return  # still bounded by this deadline: no round trip
    # A little under the time left, so that the next calls with the same deadline keep it.
    value = max(1, left_ms * 19 // 20)
    # Forgotten first: if the SET fails, the connection's value is unknown (set again next time).
    record.pop(_SESSION_TIMEOUT, None)
    _run(dbapi_connection, dialect, f"SET statement_timeout = {value}")
    record[_SESSION_TIMEOUT] = value


def _run(dbapi_connection: Any, dialect: Dialect, statement: str) -> None:
    # Through the DBAPI connection (the Connection is inside begin()): in a transaction it opens
    # the transaction that SET LOCAL applies to. Its errors are wrapped as SQLAlchemy's (a dead
    # connection: OperationalError), as they would be for any other statement.
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    except dialect.loaded_dbapi.Error as error:
        raise driver_error(
            error, dialect, statement, dbapi_connection=dbapi_connection, cursor=cursor
        ) from error
    finally:
        cursor.close()


def install_statement_deadline(engine: Engine) -> None:
    """Apply :func:`statement_deadline` to the transactions of ``engine`` (PostgreSQL only)."""
    if engine.dialect.name == "postgresql" and not event.contains(engine, "begin", _limit):
        event.listen(engine, "begin", _limit)
