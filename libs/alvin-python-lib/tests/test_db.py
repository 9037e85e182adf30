from __future__ import annotations

import threading
import traceback
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sample_models import Widget
from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from alvin_python_lib import ids
from alvin_python_lib.db import (
    Database,
    create_engine,
    normalize_url,
    transaction,
    translate_db_errors,
)
from alvin_python_lib.errors import AlreadyExists, InvalidArgument, NotFound
from alvin_python_lib.testing import UnrequestedDatabaseWrite


@pytest.fixture
def database() -> Database:
    return Database()


def test_normalize_url_picks_psycopg3() -> None:
    assert normalize_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/d").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite://").drivername == "sqlite"


def test_statement_timeout_is_enforced_by_the_server(database_url: str) -> None:
    engine = create_engine(database_url, statement_timeout_ms=50)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "50ms"
            with pytest.raises(Exception, match="statement timeout"):
                conn.execute(text("SELECT pg_sleep(2)"))
    finally:
        engine.dispose()


def test_hide_parameters_keeps_the_values_out_of_errors_and_tracebacks(
    make_engine: Callable[..., Engine],
) -> None:
    email = "someone.private@example.com"
    for hide in (False, True):
        engine = make_engine(hide_parameters=hide)
        with engine.connect() as conn, pytest.raises(ProgrammingError) as raised:
            conn.execute(text("SELECT * FROM no_such_table WHERE email = :email"), {"email": email})
        logged = "".join(traceback.format_exception(raised.value))
        assert "no_such_table" in logged
        assert (email in logged) is not hide, hide
        assert ("SQL parameters hidden" in logged) is hide


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(database_url: str, pid: int) -> None:
    admin = create_engine(database_url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar()
    finally:
        admin.dispose()


@pytest.fixture
def make_engine(database_url: str) -> Iterator[Callable[..., Engine]]:
    """``create_engine(database_url, pool_size=1, max_overflow=0, **options)``, disposed after."""
    engines: list[Engine] = []

    def make(**options: Any) -> Engine:
        engines.append(create_engine(database_url, pool_size=1, max_overflow=0, **options))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def _count_pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    pings: list[int] = []
    original = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings.append(1)
        return original(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return pings


def test_a_connection_idle_long_enough_is_pinged_and_replaced_when_dead(
    database_url: str, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pre_ping_idle_s=1e-9)
    pings = _count_pings(engine, monkeypatch)
    first = _backend_pid(engine)
    _terminate(database_url, first)
    second = _backend_pid(engine)  # the ping failed: a new connection, no error
    assert second != first
    assert pings == [1]


def test_a_connection_in_use_a_moment_ago_is_not_pinged(
    database_url: str, make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pre_ping_idle_s=3600)
    pings = _count_pings(engine, monkeypatch)
    first = _backend_pid(engine)
    assert _backend_pid(engine) == first
    assert pings == []  # no round trip spent on a ping
    # A connection that died while the pool trusted it: the statement fails, the pool is
    # invalidated, and the next checkout reconnects.
    _terminate(database_url, first)
    with pytest.raises(OperationalError):
        _backend_pid(engine)
    assert _backend_pid(engine) != first


def test_pre_ping_idle_zero_is_sqlalchemys_ping_at_every_checkout(
    make_engine: Callable[..., Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = make_engine(pre_ping_idle_s=0)
    pings = _count_pings(engine, monkeypatch)
    first = _backend_pid(engine)
    assert _backend_pid(engine) == first
    assert _backend_pid(engine) == first
    assert len(pings) == 2  # every checkout but the first (a brand-new connection)


def test_app_session_commits_and_the_test_rolls_back(db: Session, database: Database) -> None:
    with transaction(database.session) as session:
        session.add(Widget(name="committed"))
    # The app committed through its own scoped session; the test session sees the row.
    assert db.scalar(select(func.count()).select_from(Widget)) == 1


def test_previous_test_left_nothing(db: Session) -> None:
    assert db.scalar(select(func.count()).select_from(Widget)) == 0


def test_transaction_rolls_back_on_error(db: Session, database: Database) -> None:
    with pytest.raises(RuntimeError), transaction(database.session) as session:
        session.add(Widget(name="lost"))
        session.flush()
        raise RuntimeError("boom")
    assert db.scalar(select(func.count()).select_from(Widget).where(Widget.name == "lost")) == 0


def test_nested_transaction_undoes_only_the_block(db: Session, database: Database) -> None:
    session = database.session()
    session.add(Widget(name="kept"))
    session.flush()
    with pytest.raises(RuntimeError), transaction(session, nested=True):
        session.add(Widget(name="undone"))
        session.flush()
        raise RuntimeError("boom")
    session.commit()
    names = set(db.scalars(select(Widget.name)))
    assert names == {"kept"}


def test_snowflake_ids_and_utc_timestamps(db: Session) -> None:
    widget = Widget(name="w")
    db.add(widget)
    db.flush()
    assert widget.id > 0
    assert abs(ids.id_to_datetime(widget.id) - datetime.now(timezone.utc)) < timedelta(seconds=5)
    db.refresh(widget)
    assert widget.created_at.tzinfo is not None
    assert widget.created_at.utcoffset() == timedelta(0)
    before = widget.updated_at
    widget.name = "renamed"
    db.flush()
    assert widget.updated_at > before
    raw_id = db.execute(text("INSERT INTO widgets (name) VALUES ('sql') RETURNING id")).scalar_one()
    assert ids.decode(raw_id).worker_id == 1023  # the database's own worker slot


def test_unique_violation_becomes_already_exists_naming_the_field(
    db: Session, database: Database
) -> None:
    db.add(Widget(name="taken"))
    db.commit()
    session = database.session()
    with pytest.raises(AlreadyExists) as info, translate_db_errors():
        session.add(Widget(name="taken"))
        session.flush()
    assert info.value.field == "name"
    session.rollback()
    with pytest.raises(AlreadyExists) as mapped, translate_db_errors(fields={"name": "title"}):
        session.add(Widget(name="taken"))
        session.flush()
    assert mapped.value.field == "title"


def test_foreign_key_violation_becomes_invalid_argument(db: Session) -> None:
    with pytest.raises(InvalidArgument) as info, translate_db_errors():
        db.add(Widget(name="orphan", owner_id=12345))
        db.flush()
    assert info.value.violations[0].field == "fk_widgets_owner_id_widgets"


def test_app_sessions_share_the_test_session_so_savepoints_never_interleave(
    db: Session, database: Database
) -> None:
    assert database.session() is db
    other_thread: list[Session] = []
    thread = threading.Thread(target=lambda: other_thread.append(database.session()))
    thread.start()
    thread.join()
    assert other_thread == [db]
    # read through the app (its transaction stays open), write through the test, commit both
    assert database.session.scalar(select(func.count()).select_from(Widget)) == 0
    db.add(Widget(name="from-test"))
    db.commit()
    with transaction(database.session) as session:
        session.add(Widget(name="from-app"))
    database.remove()  # what the end of a request does: the test's session survives it
    assert set(db.scalars(select(Widget.name))) == {"from-test", "from-app"}


def test_no_result_becomes_not_found(db: Session) -> None:
    with pytest.raises(NotFound) as info, translate_db_errors(entity="Widget", key=7):
        db.execute(select(Widget).where(Widget.id == 7)).scalar_one()
    assert info.value.message == "Widget 7 not found."


def test_scope_removes_the_session_even_when_the_handler_raised(
    db_engine: Engine, database: Database
) -> None:
    with pytest.raises(ValueError, match="handler failed"), database.scope() as session:
        session.add(Widget(name="in-scope"))
        assert database.session.registry.has()
        raise ValueError("handler failed")
    assert not database.session.registry.has()


def test_flask_teardown_hook_removes_the_session(database: Database) -> None:
    hooks: list[object] = []

    class App:
        def teardown_appcontext(self, f: object) -> object:
            hooks.append(f)
            return f

    database.init_flask(App())
    database.session()
    assert database.session.registry.has()
    (hook,) = hooks
    hook(RuntimeError("request failed"))  # type: ignore[operator]
    assert not database.session.registry.has()


def test_sessions_are_per_thread(database: Database, db_engine: Engine) -> None:
    seen: list[object] = []
    thread = threading.Thread(target=lambda: seen.append(database.session()))
    thread.start()
    thread.join()
    assert seen[0] is not database.session()


def test_writing_without_the_db_fixture_is_a_clear_error(
    database: Database, db_engine: Engine
) -> None:
    session = database.session()
    assert session.execute(text("SELECT 1")).scalar() == 1  # reads are fine
    with pytest.raises(UnrequestedDatabaseWrite, match="`db` fixture"):
        session.add(Widget(name="sneaky"))
        session.flush()
    session.rollback()
    database.remove()


def test_configured_database_uses_its_engine_outside_tests(
    database_url: str, db_engine: Engine
) -> None:
    from alvin_python_lib.testing import real_databases

    with real_databases():
        database = Database(database_url, statement_timeout_ms=1000, application_name="lib-test")
        with database.scope() as session:
            name = session.execute(text("SELECT current_setting('application_name')")).scalar()
            session.add(Widget(name="committed-for-real"))
            session.flush()  # no guard: a real engine
            session.rollback()
        assert name == "lib-test"
        assert database.engine.pool.size() == 5  # type: ignore[attr-defined]
        database.dispose()
    with pytest.raises(UnrequestedDatabaseWrite):  # the guard is back
        database.session.add(Widget(name="after"))
        database.session.flush()
    database.session.rollback()
    database.remove()


def test_unconfigured_database_says_so() -> None:
    database = Database()
    with pytest.raises(RuntimeError, match="configure"):
        _ = database.engine
