"""Statements never outlive the caller's deadline.

A request handler that waits on a slow database keeps its worker thread long after its client
has given up (the client's deadline passed), until the server-wide ``statement_timeout``. With
enough such calls every thread waits and the process stops answering anything, health checks
included. Inside :func:`statement_deadline`, each transaction that begins on an engine made by
:func:`alvin_python_lib.db.create_engine` first runs ``SET LOCAL statement_timeout`` with the time
left, so PostgreSQL cancels the statement when the caller's deadline passes and the thread is
free again (the error arrives as ``OperationalError``, i.e. ``Unavailable``).

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
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["install_statement_deadline", "statement_deadline"]

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


def _limit(conn: Any) -> None:
    deadline = _deadline.get()
    if deadline is None:
        return
    left_ms = max(1, int((deadline - time.monotonic()) * 1000))
    statement = f"SET LOCAL statement_timeout = {left_ms}"
    # Through the DBAPI connection (the Connection is inside begin()): it opens the transaction
    # that SET LOCAL applies to. Its errors are wrapped as SQLAlchemy's (a dead connection:
    # OperationalError), as they would be for any other statement.
    dialect = conn.dialect
    dbapi_connection = conn.connection.dbapi_connection
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(statement)
    except dialect.loaded_dbapi.Error as error:
        raise DBAPIError.instance(
            statement,
            None,
            error,
            dialect.loaded_dbapi.Error,
            connection_invalidated=dialect.is_disconnect(error, dbapi_connection, cursor),
            dialect=dialect,
        ) from error
    finally:
        cursor.close()


def install_statement_deadline(engine: Engine) -> None:
    """Apply :func:`statement_deadline` to the transactions of ``engine`` (PostgreSQL only)."""
    if engine.dialect.name == "postgresql" and not event.contains(engine, "begin", _limit):
        event.listen(engine, "begin", _limit)
