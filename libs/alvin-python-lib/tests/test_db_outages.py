"""A database that cannot serve now: ``unavailable_error`` and ``statement_deadline``."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, NoResultFound, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.pool import NullPool

from alvin_python_lib.db import create_engine, statement_deadline
from alvin_python_lib.db.errors import DATABASE_UNAVAILABLE_MESSAGE, unavailable_error
from alvin_python_lib.errors import Unavailable


def test_unavailable_error_only_for_outages() -> None:
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    for outage in (refused, PoolTimeoutError("QueuePool limit reached")):
        error = unavailable_error(outage)
        assert isinstance(error, Unavailable)
        assert error.message == DATABASE_UNAVAILABLE_MESSAGE
    for other in (IntegrityError("INSERT", {}, Exception("dup")), NoResultFound(), ValueError()):
        assert unavailable_error(other) is None


@pytest.mark.timeout(30)
def test_statement_deadline_cancels_at_the_callers_deadline(database_url: str) -> None:
    engine = create_engine(database_url, poolclass=NullPool)
    try:
        started = time.monotonic()
        with (
            statement_deadline(0.3),
            pytest.raises(OperationalError) as raised,
            engine.begin() as conn,
        ):
            conn.execute(text("SELECT pg_sleep(10)"))
        assert time.monotonic() - started < 3
        assert "statement timeout" in str(raised.value)
        assert isinstance(unavailable_error(raised.value), Unavailable)

        # SET LOCAL: the next transaction, outside the block, has no such limit
        with engine.begin() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
        # no deadline (a call without one): nothing changes
        with statement_deadline(None), engine.begin() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "0"
        # time left is what counts, measured when each transaction begins
        with statement_deadline(60), engine.begin() as conn:
            limit = conn.execute(text("SHOW statement_timeout")).scalar()
            assert limit is not None
            assert limit.endswith("s")
            assert limit != "0"
    finally:
        engine.dispose()
