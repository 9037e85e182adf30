"""``Database.read_rows()``: a Core select run on the driver's cursor, in one round trip, bounded by
the caller's deadline, with SQLAlchemy's errors and a connection handed back as it was taken."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sample_models import Widget
from sqlalchemy import (
    Integer,
    Numeric,
    bindparam,
    cast,
    column,
    delete,
    func,
    insert,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alvin_python_lib.db import Database, statement_deadline, transaction
from alvin_python_lib.db.errors import unavailable_error
from alvin_python_lib.errors import Unavailable
from alvin_python_lib.testing import real_databases, round_trips

_BY_NAMES = (
    select(Widget.id, Widget.name)
    .where(Widget.name == func.any(bindparam("names", type_=ARRAY(Widget.name.type))))
    .order_by(Widget.name)
)
_SLEEP = select(func.pg_sleep(bindparam("seconds", type_=Integer)))
_TIMEOUT = (
    select(cast(column("setting"), Integer))
    .select_from(table("pg_settings"))
    .where(column("name") == "statement_timeout")
)


@pytest.fixture
def own_database(database_url: str) -> Iterator[Database]:
    """A Database on its own engine (one pooled connection), as in production."""
    with real_databases():
        database = Database(database_url, pool_size=1, max_overflow=0)
        try:
            yield database
        finally:
            with database.engine.begin() as connection:
                connection.execute(delete(Widget).where(Widget.name.like("rows-%")))
            database.dispose()


def _add(database: Database, *names: str) -> None:
    with database.engine.begin() as connection:
        for number, name in enumerate(names, start=1):
            connection.execute(insert(Widget).values(id=10_000 + number, name=name))


def test_rows_come_back_as_tuples_in_one_round_trip(own_database: Database) -> None:
    _add(own_database, "rows-a", "rows-b")
    names = ["rows-b", "rows-a", "rows-missing"]
    with statement_deadline(5.0):
        own_database.read_rows(_BY_NAMES, {"names": names})  # the session limit is set
    with round_trips(own_database.engine) as trips, statement_deadline(5.0):
        rows = own_database.read_rows(_BY_NAMES, {"names": names})
    assert rows == [(10_001, "rows-a"), (10_002, "rows-b")]
    assert len(trips) == 1, trips.trips


def test_the_deadline_cancels_a_slow_read(own_database: Database) -> None:
    started = time.monotonic()
    with pytest.raises(OperationalError, match="statement timeout"), statement_deadline(0.3):
        own_database.read_rows(_SLEEP, {"seconds": 10})
    assert time.monotonic() - started < 3
    with statement_deadline(30.0):
        (limit_ms,) = own_database.read_rows(_TIMEOUT)[0]
    assert 25_000 <= limit_ms <= 30_000
    assert own_database.read_rows(_TIMEOUT) == [(0,)]  # no deadline: the server's default


def test_the_connection_goes_back_to_the_pool_in_transactions(own_database: Database) -> None:
    own_database.read_rows(_TIMEOUT)
    # the pool's one connection: a rolled-back write must leave nothing (no autocommit left on)
    with own_database.scope() as session:
        session.execute(insert(Widget).values(id=10_009, name="rows-rolled-back"))
        session.rollback()
    rows = own_database.read_rows(_BY_NAMES, {"names": ["rows-rolled-back"]})
    assert rows == []


def test_a_lost_database_fails_one_read_and_the_pool_reconnects(database_url: str) -> None:
    with real_databases():
        database = Database(database_url, pool_size=2, max_overflow=0)
        try:
            with database.engine.connect() as one, database.engine.connect() as two:
                pids = [c.execute(text("SELECT pg_backend_pid()")).scalar_one() for c in (one, two)]
            killer = Database(database_url, pool_size=1, max_overflow=0)
            try:  # what a database restart does to the pool's two connections
                with killer.engine.begin() as connection:
                    for pid in pids:
                        connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            finally:
                killer.dispose()
            with pytest.raises(OperationalError) as raised:
                database.read_rows(_TIMEOUT)
            assert raised.value.connection_invalidated
            # the other pooled connection died too: it is recycled, not handed out
            assert database.read_rows(_TIMEOUT) == [(0,)]
        finally:
            database.dispose()


def test_a_database_that_refuses_connections_reads_as_unavailable(tmp_path: Path) -> None:
    # a socket folder with no server in it: every connection attempt is refused
    with real_databases():
        database = Database(f"postgresql+psycopg://postgres@/app?host={tmp_path}")
        try:
            with pytest.raises(OperationalError) as raised:
                database.read_rows(_TIMEOUT)
            assert isinstance(unavailable_error(raised.value), Unavailable)
        finally:
            database.dispose()


def test_type_processors_apply_to_parameters_and_rows(own_database: Database) -> None:
    # JSONB's bind processor adapts the dict (the driver alone cannot); Numeric(asdecimal=False)'s
    # result processor turns the driver's Decimal into a float.
    kind = select(func.jsonb_typeof(bindparam("doc", type_=JSONB)))
    assert own_database.read_rows(kind, {"doc": {"a": 1}}) == [("object",)]
    amount = select(cast(bindparam("amount"), Numeric(10, 2, asdecimal=False)))
    (value,) = own_database.read_rows(amount, {"amount": "1.50"})[0]
    assert isinstance(value, float)
    assert value == 1.5
    _add(own_database, "rows-fixed")
    fixed = select(Widget.name).where(Widget.name == "rows-fixed")  # a literal bound value
    assert own_database.read_rows(fixed) == [("rows-fixed",)]


def test_what_a_fixed_text_cannot_carry_is_refused(own_database: Database) -> None:
    with pytest.raises(ValueError, match="expanding IN"):
        own_database.read_rows(
            select(Widget.id).where(Widget.name.in_(bindparam("names", expanding=True))),
            {"names": ["x"]},
        )
    with pytest.raises(TypeError, match="select"):
        own_database.read_rows(text("SELECT 1"))  # type: ignore[arg-type]


def test_under_the_db_fixture_read_rows_sees_the_tests_data(db: Session) -> None:
    database = Database()
    with transaction(database.session) as session:
        session.add(Widget(name="rows-seen"))
    assert database.read_rows(_BY_NAMES, {"names": ["rows-seen"]})[0][1] == "rows-seen"
