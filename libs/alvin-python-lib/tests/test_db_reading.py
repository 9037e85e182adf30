"""``Database.reading()``: reads outside an explicit transaction, in fewer round trips, with the
caller's deadline still bounding every statement; counted on the wire (libpq's trace)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from sample_models import Widget
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from alvin_python_lib.db import Database, statement_deadline, transaction
from alvin_python_lib.testing import real_databases, round_trips


@pytest.fixture
def own_database(database_url: str) -> Iterator[Database]:
    """A Database on its own engine (one pooled connection), as in production."""
    with real_databases():
        database = Database(database_url, pool_size=1, max_overflow=0)
        try:
            yield database
        finally:
            database.dispose()


def _read(database: Database, deadline_s: float | None = 5.0) -> None:
    with statement_deadline(deadline_s), database.reading() as session:
        session.execute(text("SELECT 1")).all()


def _scoped_read(database: Database, deadline_s: float | None = 5.0) -> None:
    with statement_deadline(deadline_s):
        try:
            database.session().execute(text("SELECT 1")).all()
        finally:
            database.remove()


_LIMIT_MS = text("SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'")


def _timeout_ms(database: Database, *, reading: bool) -> int:
    if reading:
        with database.reading() as session:
            return int(session.execute(_LIMIT_MS).scalar_one())
    with database.scope() as session:
        return int(session.execute(_LIMIT_MS).scalar_one())


def test_a_read_is_one_round_trip_and_two_when_its_deadline_changes(
    own_database: Database,
) -> None:
    _read(own_database)  # the pool's connection exists, its session limit is set
    with round_trips(own_database.engine) as trips:
        _read(own_database)
    assert trips.trips == ['Query "SELECT 1"']
    with round_trips(own_database.engine) as trips:
        _read(own_database, 60.0)  # another deadline: the session limit follows it
    assert len(trips) == 2, trips.trips
    assert trips.trips[0].startswith('Query "SET statement_timeout = ')
    # the same read in the scoped session: BEGIN, SET LOCAL, the statement, ROLLBACK
    with round_trips(own_database.engine) as trips:
        _scoped_read(own_database)
    assert len(trips) == 4, trips.trips


def test_the_deadline_cancels_a_slow_read(own_database: Database) -> None:
    started = time.monotonic()
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        statement_deadline(0.3),
        own_database.reading() as session,
    ):
        session.execute(text("SELECT pg_sleep(10)"))
    assert time.monotonic() - started < 3
    # the connection's limit follows the next deadline, and goes back without one
    _read(own_database, 30.0)
    with statement_deadline(30.0):
        assert 25_000 <= _timeout_ms(own_database, reading=True) <= 30_000
    assert _timeout_ms(own_database, reading=False) == 0  # a transaction without a deadline
    _read(own_database, 30.0)
    assert _timeout_ms(own_database, reading=True) == 0  # a read without a deadline


def test_a_transaction_after_a_read_gets_its_own_deadline(own_database: Database) -> None:
    _read(own_database, 0.5)  # leaves a session limit of about 0.5 s on the connection
    with statement_deadline(30.0), transaction(own_database.session) as session:
        session.execute(text("SELECT pg_sleep(0.8)"))  # under the transaction's own limit
        limit_ms = int(session.execute(_LIMIT_MS).scalar_one())
    own_database.remove()
    assert limit_ms > 25_000


def test_reading_refuses_writes(own_database: Database) -> None:
    with (
        pytest.raises(RuntimeError, match="only read"),
        own_database.reading() as session,
    ):
        session.add(Widget(name="not written"))
        session.flush()


def test_under_the_db_fixture_reading_sees_the_tests_data(db: Session) -> None:
    database = Database()
    with transaction(database.session) as session:
        session.add(Widget(name="visible"))
    with database.reading() as session:
        assert session.scalars(select(Widget.name)).all() == ["visible"]


def test_a_read_connection_is_one_round_trip_bounded_by_the_deadline(
    own_database: Database,
) -> None:
    with statement_deadline(5.0), own_database.read_connection() as connection:
        connection.execute(text("SELECT 1")).all()
    with (
        round_trips(own_database.engine) as trips,
        statement_deadline(5.0),
        own_database.read_connection() as connection,
    ):
        assert connection.execute(text("SELECT 2")).scalar_one() == 2
    assert trips.trips == ['Query "SELECT 2"']
    started = time.monotonic()
    with (
        pytest.raises(OperationalError, match="statement timeout"),
        statement_deadline(0.3),
        own_database.read_connection() as connection,
    ):
        connection.execute(text("SELECT pg_sleep(10)"))
    assert time.monotonic() - started < 3


def test_under_the_db_fixture_a_read_connection_sees_the_tests_data(db: Session) -> None:
    database = Database()
    with transaction(database.session) as session:
        session.add(Widget(name="seen"))
    with database.read_connection() as connection:
        assert connection.scalars(select(Widget.name)).all() == ["seen"]
