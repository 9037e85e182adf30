"""The PostgreSQL ``next_id()`` function: its SQL, installing it (metadata, Alembic) and key columns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from sqlalchemy import DDL, BigInteger, MetaData, event, text
from sqlalchemy.orm import MappedColumn, mapped_column

from alvin_python_lib.ids.default import next_id
from alvin_python_lib.ids.layout import DEFAULT_LAYOUT, SnowflakeLayout, _check_int
from alvin_python_lib.ids.lease import LEASE_NAMESPACE

__all__ = [
    "create_next_id",
    "drop_next_id",
    "drop_next_id_function_sql",
    "install_next_id",
    "next_id_function_sql",
    "snowflake_pk",
]


def _quote_ident(name: str) -> str:
    if not name or "\x00" in name:
        raise ValueError(f"invalid SQL identifier {name!r}")
    return '"' + name.replace('"', '""') + '"'


_NEXT_ID_BODY: Final = """\
DECLARE
  -- (milliseconds since the epoch << sequence_bits) | sequence: one counter for both fields
  counter bigint;
BEGIN
  BEGIN
    -- One issuer at a time, database wide. A transaction-level lock taken in this block is
    -- released when the block is rolled back below, so it is never held past this call.
    PERFORM pg_advisory_xact_lock({namespace}, {worker_id});
    SELECT greatest(
             (CAST(floor(extract(epoch FROM clock_timestamp()) * 1000) AS bigint) - {epoch_ms})
               << {sequence_bits},
             last_value + 1)
      INTO counter
      FROM {sequence};
    PERFORM setval({sequence_literal}, counter);  -- sequences ignore rollbacks
    RAISE SQLSTATE 'AL001';
  EXCEPTION WHEN SQLSTATE 'AL001' THEN
    NULL;  -- the lock is released; setval and the local variable stay
  END;
  RETURN ((counter >> {sequence_bits}) << {time_shift})
         | (CAST({worker_id} AS bigint) << {worker_shift})
         | (counter & {max_sequence});
END
"""


def _next_id_statements(layout: SnowflakeLayout, schema: str, worker_id: int | None) -> list[str]:
    if worker_id is None:
        worker_id = layout.database_worker_id
    _check_int("worker_id", worker_id)
    if not 0 <= worker_id <= layout.max_worker_id:
        raise ValueError(f"worker_id must be in 0..{layout.max_worker_id}, got {worker_id}")
    qschema = _quote_ident(schema)
    sequence = f"{qschema}.{_quote_ident('next_id_seq')}"
    body = _NEXT_ID_BODY.format(
        namespace=LEASE_NAMESPACE,
        worker_id=worker_id,
        epoch_ms=layout.epoch_ms,
        sequence_bits=layout.sequence_bits,
        sequence=sequence,
        sequence_literal=_quote_literal(sequence),
        time_shift=layout.time_shift,
        worker_shift=layout.worker_shift,
        max_sequence=layout.max_sequence,
    )
    comment = (
        f"snowflake ids (alvin_python_lib.ids): {layout.time_bits} bits of milliseconds since"
        f" {layout.epoch.isoformat()}, worker id {worker_id} ({layout.worker_bits} bits),"
        f" {layout.sequence_bits} sequence bits"
    )
    return [
        f"CREATE SEQUENCE IF NOT EXISTS {sequence} AS bigint MINVALUE 0 START WITH 0",
        f"COMMENT ON SEQUENCE {sequence} IS "
        + _quote_literal(
            f"state of next_id(): the last issued (ms since epoch << {layout.sequence_bits})"
            " | sequence"
        ),
        f"CREATE OR REPLACE FUNCTION {qschema}.next_id() RETURNS bigint\n"
        "LANGUAGE plpgsql VOLATILE PARALLEL UNSAFE SECURITY DEFINER\n"
        "SET search_path = pg_catalog, pg_temp\n"
        f"AS $next_id$\n{body}$next_id$",
        f"COMMENT ON FUNCTION {qschema}.next_id() IS {_quote_literal(comment)}",
    ]


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


# DDL's constructor is untyped in SQLAlchemy; call it through a typed name.
_ddl: Callable[[str], DDL] = DDL


def _drop_statements(schema: str) -> list[str]:
    qschema = _quote_ident(schema)
    return [
        f"DROP FUNCTION IF EXISTS {qschema}.next_id()",
        f"DROP SEQUENCE IF EXISTS {qschema}.{_quote_ident('next_id_seq')}",
    ]


def next_id_function_sql(
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
    *,
    schema: str = "public",
    worker_id: int | None = None,
) -> str:
    """SQL that creates ``<schema>.next_id()`` (BIGINT) and its state ``<schema>.next_id_seq``.

    The function stamps ``worker_id`` (default: ``layout.database_worker_id``, 1023) on its ids. Its
    ids strictly increase and never repeat, even for thousands of ids in one millisecond (a bulk
    ``INSERT ... SELECT``) or after the server clock steps back: the sequence holds the last issued
    ``(milliseconds << sequence_bits) | sequence``, and each call issues
    ``greatest(clock_timestamp() in ms << sequence_bits, last + 1)`` under the advisory lock
    ``(LEASE_NAMESPACE, worker_id)`` (transaction level, released before the function returns by
    rolling back an inner block). When more than 2**sequence_bits ids per millisecond are asked for,
    their timestamps run ahead of the clock (1 ms per 2**sequence_bits extra ids) instead of waiting.
    Calls are serialised database wide (about 8 µs each): it is the fallback for SQL inserts,
    Python code should use a generator. Install it once per database (two copies in two
    schemas would share the worker id but not the state). ``SECURITY DEFINER``: callers need
    no privilege on the sequence.

    The SQL has several statements separated by ``;``: run it with a driver that accepts that,
    or use :func:`create_next_id` / :func:`install_next_id`.
    """
    return ";\n".join(_next_id_statements(layout, schema, worker_id)) + ";\n"


def drop_next_id_function_sql(*, schema: str = "public") -> str:
    """SQL that drops what :func:`next_id_function_sql` creates."""
    return ";\n".join(_drop_statements(schema)) + ";\n"


def install_next_id(
    metadata: MetaData,
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
    *,
    schema: str = "public",
    worker_id: int | None = None,
) -> None:
    """Make ``metadata.create_all()`` create ``next_id()`` first (a ``before_create`` DDL listener).

    The schema must already exist.
    """
    for statement in _next_id_statements(layout, schema, worker_id):
        event.listen(metadata, "before_create", _ddl(statement))


class _MigrationOps(Protocol):
    def execute(self, sqltext: str, /) -> object: ...  # pragma: no cover


def create_next_id(
    op: _MigrationOps,
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
    *,
    schema: str = "public",
    worker_id: int | None = None,
) -> None:
    """In an Alembic migration: ``create_next_id(op)`` (``op`` is ``alembic.op``)."""
    for statement in _next_id_statements(layout, schema, worker_id):
        op.execute(statement)


def drop_next_id(op: _MigrationOps, *, schema: str = "public") -> None:
    """In an Alembic migration's downgrade: ``drop_next_id(op)``."""
    for statement in _drop_statements(schema):
        op.execute(statement)


def snowflake_pk(
    *, server_default: bool = True, schema: str | None = None, python_default: bool = True
) -> MappedColumn[int]:
    """A BIGINT primary key column: ``id: Mapped[int] = snowflake_pk()``.

    With ``python_default`` (the default) the ORM fills it from the module default
    :func:`~alvin_python_lib.ids.next_id`; without it, the code that builds a row sets the id
    (from the generator it was handed) or leaves it to the database. With ``server_default`` (the
    default) rows inserted without an id get ``next_id()`` from the database, which must then have
    the function (see :func:`install_next_id`, :func:`create_next_id`); ``schema`` qualifies the
    function name.
    """
    function = "next_id()" if schema is None else f"{_quote_ident(schema)}.next_id()"
    return mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        default=next_id if python_default else None,
        server_default=text(function) if server_default else None,
    )
