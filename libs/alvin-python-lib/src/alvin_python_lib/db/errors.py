"""Turn database exceptions into the kit's domain errors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import (
    DBAPIError,
    DisconnectionError,
    IntegrityError,
    NoResultFound,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from alvin_python_lib.errors import (
    AlreadyExists,
    DomainError,
    InvalidArgument,
    NotFound,
    Unavailable,
)

__all__ = [
    "DATABASE_UNAVAILABLE_MESSAGE",
    "domain_error_from_integrity",
    "driver_error",
    "translate_db_errors",
    "unavailable_error",
    "unique_violation_field",
]

DATABASE_UNAVAILABLE_MESSAGE = "The database is unavailable; try again later."


def driver_error(
    error: Exception,
    dialect: Dialect,
    statement: str | None = None,
    params: Any = None,
    *,
    dbapi_connection: Any = None,
    cursor: Any = None,
    hide_parameters: bool = False,
) -> DBAPIError:
    """The driver's ``error`` as SQLAlchemy's exception, as a ``Connection`` would raise it.

    For code that talks to the driver's connection directly: callers map outages by SQLAlchemy's
    types (``OperationalError``, ``connection_invalidated``), never by the driver's.
    """
    wrapped = DBAPIError.instance(
        statement,
        params,
        error,
        dialect.loaded_dbapi.Error,
        hide_parameters=hide_parameters,
        connection_invalidated=dialect.is_disconnect(cast(Any, error), dbapi_connection, cursor),
        dialect=dialect,
    )
    # StatementError only for an error that is not the driver's, which callers do not pass.
    return cast(DBAPIError, wrapped)


_UNIQUE_VIOLATION = "23505"
_FOREIGN_KEY_VIOLATION = "23503"
_NOT_NULL_VIOLATION = "23502"
_CHECK_VIOLATION = "23514"


def _diag(exc: IntegrityError) -> tuple[str | None, str | None, str | None, str | None]:
    orig = exc.orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    table = getattr(diag, "table_name", None)
    column = getattr(diag, "column_name", None)
    return sqlstate, constraint, table, column


def unique_violation_field(exc: IntegrityError) -> str | None:
    """The column behind a unique violation, read from the constraint name (``uq_<table>_<col>``)."""
    sqlstate, constraint, table, _ = _diag(exc)
    if sqlstate != _UNIQUE_VIOLATION or not constraint:
        return None
    for prefix in ("uq_", "ix_"):
        full = f"{prefix}{table}_" if table else prefix
        if constraint.startswith(full):
            return constraint[len(full) :]
    return None


def domain_error_from_integrity(
    exc: IntegrityError, *, fields: Mapping[str, str] | None = None
) -> DomainError | None:
    """The domain error for an IntegrityError, or None when it is not an input problem.

    ``fields`` maps constraint names or column names to the input field names callers know.
    """
    fields = fields or {}
    sqlstate, constraint, _, column = _diag(exc)
    if sqlstate == _UNIQUE_VIOLATION:
        col = unique_violation_field(exc)
        field = fields.get(constraint or "") or fields.get(col or "") or col
        return AlreadyExists(field=field)
    if sqlstate == _FOREIGN_KEY_VIOLATION:
        field = fields.get(constraint or "") or constraint or "reference"
        return InvalidArgument.for_field(field, "refers to something that does not exist")
    if sqlstate == _NOT_NULL_VIOLATION and column:
        return InvalidArgument.for_field(fields.get(column, column), "is required")
    if sqlstate == _CHECK_VIOLATION:
        field = fields.get(constraint or "") or constraint or "input"
        return InvalidArgument.for_field(field, "is not allowed")
    return None


@contextmanager
def translate_db_errors(
    *, entity: str | None = None, key: object = None, fields: Mapping[str, str] | None = None
) -> Iterator[None]:
    """Re-raise ``NoResultFound`` as NotFound and constraint violations as AlreadyExists etc."""
    try:
        yield
    except NoResultFound as exc:
        raise NotFound(entity=entity or "Entity", key=key) from exc
    except IntegrityError as exc:
        error = domain_error_from_integrity(exc, fields=fields)
        if error is None:
            raise
        raise error from exc


def unavailable_error(exc: BaseException) -> Unavailable | None:
    """``Unavailable`` when ``exc`` says the database cannot serve now, else None.

    That is: it cannot be reached or the connection was lost (server stopped, restarting, network),
    the pool had no free connection within ``pool_timeout``, or the server gave up on the statement
    (``statement_timeout``, lock timeout, deadlock, admin shutdown: SQLSTATE classes 08, 40, 53,
    55, 57 arrive as ``OperationalError``). The caller may retry these; they are not bugs.
    """
    if isinstance(exc, OperationalError | PoolTimeoutError | DisconnectionError):
        return Unavailable(DATABASE_UNAVAILABLE_MESSAGE)
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return Unavailable(DATABASE_UNAVAILABLE_MESSAGE)
    return None
