"""One read-only statement run on the driver's cursor, skipping SQLAlchemy's execution layer.

On a service's hottest reads (one SELECT whose rows go straight into a response) the statement
is cheap for the database, and SQLAlchemy's execution layer (execution context, result metadata,
per-statement events, a ``Connection`` around the pooled one) cost more of the service's CPU than
the driver's own round trip: about 100 of 250 us per read of one row, measured on the repository's
user read. Here the Core statement is compiled once per dialect and each call is the pool's
checkout, the deadline (:func:`~alvin_python_lib.db.statement_deadline`, as in
:meth:`~alvin_python_lib.db.Database.reading`), the driver's ``execute`` and ``fetchall``.

What stays SQLAlchemy's: the pool (pre-ping, recycling), the compiler (the SQL is the one
``connection.execute`` would send), the types' bind and result processors, and the errors (a
driver error arrives as SQLAlchemy's ``DBAPIError`` subclass, a lost connection invalidates the
pool as a ``Connection`` would).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.sql import Select
from sqlalchemy.types import TypeEngine

from alvin_python_lib.db.deadline import limit_connection
from alvin_python_lib.db.errors import driver_error

__all__ = ["CompiledRead", "compile_read", "run_read"]

Processor = Callable[[Any], Any]


@dataclass(slots=True)
class CompiledRead:
    """A SELECT compiled for one dialect: its SQL, its fixed values and its type processors.

    The result processors depend on the types the driver reports (``cursor.description``), so
    they are found at the first run and kept: the statement's columns do not change.
    """

    sql: str
    defaults: Mapping[str, Any]
    bind_processors: Mapping[str, Processor]
    column_types: Sequence[TypeEngine[Any]]
    result_processors: Sequence[Processor | None] | None = None
    resolved: bool = False

    def parameters(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The driver's parameters: the statement's fixed values, ``params``, then processed."""
        values = {**self.defaults, **params}
        for name, process in self.bind_processors.items():
            if name in values:
                values[name] = process(values[name])
        return values

    def resolve(self, dialect: Dialect, description: Sequence[Sequence[Any]]) -> None:
        """Find each column's result processor from the driver's type codes."""
        found = [
            column_type.dialect_impl(dialect).result_processor(dialect, column[1])
            for column_type, column in zip(self.column_types, description, strict=True)
        ]
        self.result_processors = found if any(p is not None for p in found) else None
        self.resolved = True

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The fetched rows as tuples, each value through its column type's processor."""
        processors = self.result_processors
        if processors is None:
            return [tuple(row) for row in fetched]
        return [
            tuple(
                value if p is None else p(value) for p, value in zip(processors, row, strict=True)
            )
            for row in fetched
        ]


def compile_read(statement: Select[Any], dialect: Dialect) -> CompiledRead:
    """Compile ``statement`` once; refuses what a fixed SQL text cannot carry."""
    if not isinstance(statement, Select):
        raise TypeError(f"read_rows runs a Core select(), not {type(statement).__name__}")
    compiled = statement.compile(dialect=dialect)
    if getattr(compiled, "post_compile_params", None) or getattr(
        compiled, "literal_execute_params", None
    ):
        # Expanding IN renders the list into the SQL on each call; = ANY(:array) is one text.
        raise ValueError("read_rows cannot run an expanding IN; use column == any_(bindparam())")
    defaults: dict[str, Any] = {}
    bind_processors: dict[str, Processor] = {}
    for bind, name in compiled.bind_names.items():
        if not bind.required:
            defaults[name] = bind.effective_value
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            bind_processors[name] = process
    return CompiledRead(
        sql=str(compiled),
        defaults=defaults,
        bind_processors=bind_processors,
        column_types=[column.type for column in statement.selected_columns],
    )


def run_read(
    engine: Engine, read: CompiledRead, params: Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """Run ``read`` on a pooled connection of ``engine`` in autocommit, under the deadline."""
    dialect = engine.dialect
    values = read.parameters(params)
    pooled = _checkout(engine)
    dbapi_connection: Any = pooled.dbapi_connection
    cursor = None
    try:
        dialect.set_isolation_level(dbapi_connection, "AUTOCOMMIT")
        limit_connection(pooled.info, dbapi_connection, dialect)
        cursor = dbapi_connection.cursor()
        cursor.execute(read.sql, values)
        if not read.resolved:
            read.resolve(dialect, cursor.description)
        fetched = cursor.fetchall()
    except dialect.loaded_dbapi.Error as error:
        wrapped = driver_error(
            error,
            dialect,
            read.sql,
            values,
            dbapi_connection=dbapi_connection,
            cursor=cursor,
            hide_parameters=engine.hide_parameters,
        )
        _release(engine, pooled, wrapped if wrapped.connection_invalidated else None)
        raise wrapped from error
    except DBAPIError as error:  # the deadline's SET, already wrapped
        _release(engine, pooled, error if error.connection_invalidated else None)
        raise
    except BaseException:
        _release(engine, pooled, None)
        raise
    finally:
        if cursor is not None:
            cursor.close()
    _release(engine, pooled, None)
    return read.rows(fetched)


def _checkout(engine: Engine) -> Any:
    """A pooled connection; a database that cannot be reached raises SQLAlchemy's error.

    ``raw_connection()`` lets the driver's own error through (``Connection`` wraps it), and
    callers map outages by SQLAlchemy's types: a refused connection must read as one.
    """
    dialect = engine.dialect
    try:
        return engine.raw_connection()
    except dialect.loaded_dbapi.Error as error:
        raise driver_error(error, dialect, hide_parameters=engine.hide_parameters) from error


def _release(engine: Engine, pooled: Any, lost: StatementError | None) -> None:
    """Back to the pool as it was checked out (not in autocommit), or discarded."""
    try:
        if lost is not None:
            # As SQLAlchemy's Connection does: every connection opened before this one is
            # recycled at its next checkout (the database restarted), not only this one.
            engine.pool._invalidate(pooled, lost)
        elif pooled.is_valid:
            try:
                engine.dialect.reset_isolation_level(pooled.dbapi_connection)
            except Exception as error:  # a connection that cannot be reset is not reused
                pooled.invalidate(error)
    finally:
        pooled.close()
