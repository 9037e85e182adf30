"""One ``Database`` per service: an engine and a scoped session whose scope is one unit of work.

The scope is one HTTP request, one RPC or one task: the transport calls :meth:`Database.remove` when
the unit ends, even when the handler raised (Flask ``teardown_appcontext`` through
:meth:`Database.init_flask`, the gRPC library's interceptor, the Celery ``task_postrun`` signal of
:func:`alvin_python_lib.tasks.create_celery_app`). The default scope is the thread, which matches
thread-pool servers and workers; :meth:`Database.scope` wraps any other unit of work.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.orm import Session, scoped_session, sessionmaker
from sqlalchemy.sql import Select

from alvin_python_lib.db.driver_read import CompiledRead, compile_read, run_read
from alvin_python_lib.db.engine import create_engine

__all__ = ["Database", "FlaskLike", "SupportsRemove", "set_test_binding", "transaction"]


class SupportsRemove(Protocol):
    """Anything whose ``remove()`` ends a unit of work (a :class:`Database`, a scoped_session)."""

    def remove(self) -> None: ...


class FlaskLike(Protocol):
    """The part of ``flask.Flask`` that :meth:`Database.init_flask` uses."""

    def teardown_appcontext(self, f: Callable[[BaseException | None], None]) -> Any: ...


_instances: weakref.WeakSet[Database] = weakref.WeakSet()

# Set by the pytest plugin: while set, every Database's sessions use this bind instead of its
# engine, and (when a shared session is given) every scoped session *is* that session.
_test_binding: tuple[Engine | Connection, dict[str, Any], Session | None] | None = None


class _SharedRegistry:
    """A scoped_session registry that always answers one session (the test's ``db``).

    Two Sessions on one connection, each with SAVEPOINTs, break each other: releasing a savepoint
    also releases every later one, including the other session's. Sharing one Session avoids it.
    ``clear()`` (what ``remove()`` does) closes it, ending its savepoint but keeping the object.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def __call__(self) -> Session:
        return self.session

    def has(self) -> bool:
        return True

    def set(self, obj: Session) -> None:
        raise RuntimeError("cannot replace the shared test session")

    def clear(self) -> None:
        self.session.close()


class Database:
    """An engine plus a ``scoped_session``; configure it once at start-up with :meth:`configure`."""

    def __init__(self, url: str | URL | None = None, **engine_options: Any) -> None:
        self._engine: Engine | None = None
        self.session: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))
        self._own_registry = self.session.registry
        # reading(): sessions on the engine in autocommit, made once per binding.
        self._readers: sessionmaker[Session] = sessionmaker(expire_on_commit=False)
        event.listen(self._readers, "before_flush", _refuse_writes)
        # read_rows(): each statement compiled once for the bound dialect (weak: a statement
        # built per call would otherwise be kept for ever).
        self._compiled_reads: weakref.WeakKeyDictionary[Select[Any], CompiledRead] = (
            weakref.WeakKeyDictionary()
        )
        _instances.add(self)
        if url is not None:
            self.configure(url, **engine_options)
        else:
            self._apply_binding()

    def configure(self, url: str | URL, **engine_options: Any) -> Engine:
        """Create the engine (see :func:`create_engine` for options) and bind sessions to it."""
        if self._engine is not None:
            self._engine.dispose()
        self._engine = create_engine(url, **engine_options)
        self._apply_binding()
        return self._engine

    def use_engine(self, engine: Engine) -> None:
        """Bind sessions to an engine created elsewhere (shared pools, tests)."""
        self._engine = engine
        self._apply_binding()

    @property
    def engine(self) -> Engine:
        """The configured engine; raises ``RuntimeError`` before :meth:`configure`."""
        if self._engine is None:
            raise RuntimeError("Database is not configured: call Database.configure(url) first")
        return self._engine

    @property
    def is_configured(self) -> bool:
        """Whether an engine is set."""
        return self._engine is not None

    def remove(self) -> None:
        """End the current scope: close the session and return its connection to the pool."""
        self.session.remove()

    @contextmanager
    def scope(self) -> Iterator[Session]:
        """A unit of work: yields the scoped session and removes it afterwards, even on error."""
        try:
            yield self.session()
        finally:
            self.session.remove()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for a unit of work that only reads, closed at the end of the block.

        Its statements run outside an explicit transaction (autocommit): a one-statement read is
        one round trip to the database instead of four (BEGIN, the deadline's ``SET LOCAL``, the
        statement, ROLLBACK), and :func:`~alvin_python_lib.db.statement_deadline` still bounds
        each statement (a session-level limit, set only when it changes). Each statement sees
        what was committed when it started: reads that must agree with each other, and any
        write, belong in :func:`transaction` (flushing this session raises ``RuntimeError``).

        Under the ``db`` test fixture it is the test's session, which sees the test's data.
        """
        binding = _test_binding
        if binding is not None and (binding[2] is not None or not isinstance(binding[0], Engine)):
            yield self.session()
            return
        session = self._readers()
        try:
            yield session
        finally:
            session.close()

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A Core connection for reads that need no ORM objects, returned to the pool at the end.

        What :meth:`reading` does (autocommit, one round trip per statement, each bounded by
        :func:`~alvin_python_lib.db.statement_deadline`) without a ``Session``: no identity map,
        no session transaction, no objects to build. On a service's hottest reads (rows straight
        to a response) the session's bookkeeping cost more CPU than the statement. Reads only:
        nothing refuses a write here, but nothing would make it atomic either.

        Under the ``db`` test fixture it is the test session's connection.
        """
        binding = _test_binding
        if binding is not None and (binding[2] is not None or not isinstance(binding[0], Engine)):
            yield self.session().connection()
            return
        reader = self._readers.kw.get("bind")
        if not isinstance(reader, Engine):
            raise RuntimeError("Database is not configured: call Database.configure(url) first")
        with reader.connect() as connection:
            yield connection

    def read_rows(
        self, statement: Select[Any], params: Mapping[str, Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """The rows of one read-only Core ``select()``, as tuples, run on the driver's cursor.

        The reads of :meth:`read_connection` (autocommit, one round trip, bounded by
        :func:`~alvin_python_lib.db.statement_deadline`) without SQLAlchemy's execution layer:
        the statement is compiled once and each call is a checkout, ``execute`` and ``fetchall``
        (see :mod:`alvin_python_lib.db.driver_read`, about half the CPU of a one-row read). Pass
        module-level statements with ``bindparam()`` values: each statement object is compiled
        once and kept. An expanding ``IN`` is refused (use ``column == any_(bindparam(...))``).

        Under the ``db`` test fixture it runs on the test session's connection.
        """
        binding = _test_binding
        if binding is not None and (binding[2] is not None or not isinstance(binding[0], Engine)):
            result = self.session().connection().execute(statement, dict(params or {}))
            return [tuple(row) for row in result]
        reader = self._readers.kw.get("bind")
        if not isinstance(reader, Engine):
            raise RuntimeError("Database is not configured: call Database.configure(url) first")
        compiled = self._compiled_reads.get(statement)
        if compiled is None:
            compiled = self._compiled_reads[statement] = compile_read(statement, reader.dialect)
        return run_read(reader, compiled, params or {})

    def init_flask(self, app: FlaskLike) -> None:
        """Remove the session when each Flask app context ends (also after an exception)."""

        def _teardown(_exc: BaseException | None) -> None:
            self.remove()

        app.teardown_appcontext(_teardown)

    def dispose(self) -> None:
        """Close every pooled connection (call at shutdown or after fork)."""
        self.session.remove()
        if self._engine is not None:
            self._engine.dispose()

    def _apply_binding(self) -> None:
        self._compiled_reads.clear()
        if isinstance(self.session.registry, _SharedRegistry):
            self.session.registry = self._own_registry
        self.session.remove()
        reader_bind = _test_binding[0] if _test_binding is not None else self._engine
        if isinstance(reader_bind, Engine):
            self._readers.configure(
                bind=reader_bind.execution_options(isolation_level="AUTOCOMMIT")
            )
        if _test_binding is not None:
            bind, options, shared = _test_binding
            self.session.configure(bind=bind, **options)
            if shared is not None:
                self.session.registry = _SharedRegistry(shared)  # type: ignore[assignment]
        elif self._engine is not None:
            self.session.configure(bind=self._engine)


def _refuse_writes(session: Session, *_: Any) -> None:
    raise RuntimeError(
        "Database.reading() sessions only read: write inside transaction(database.session)"
    )


def set_test_binding(
    bind: Engine | Connection | None,
    *,
    shared_session: Session | None = None,
    **session_options: Any,
) -> None:
    """Point every Database's sessions at ``bind`` (None restores each engine). For test plugins.

    With ``shared_session``, every Database's scoped session returns that one Session, in every
    thread, until the binding changes.
    """
    global _test_binding  # noqa: PLW0603 - process-wide switch used only by the pytest plugin
    _test_binding = None if bind is None else (bind, session_options, shared_session)
    for database in list(_instances):
        database._apply_binding()


@contextmanager
def transaction(
    session: Session | scoped_session[Session], *, nested: bool = False
) -> Iterator[Session]:
    """Commit the session's work at the end of the block; roll it back if the block raised.

    With ``nested=True`` the block runs in a SAVEPOINT: an error undoes only the block's work and
    the enclosing transaction goes on.
    """
    target: Session = session() if isinstance(session, scoped_session) else session
    if nested:
        with target.begin_nested():
            yield target
        return
    try:
        yield target
        target.commit()
    except BaseException:
        target.rollback()
        raise
