"""Worker ids for processes: ``WORKER_ID`` from the environment, or a PostgreSQL advisory-lock lease."""

from __future__ import annotations

import logging
import os
import random
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Final

from alvin_python_lib.ids.layout import DEFAULT_LAYOUT, SnowflakeLayout, _check_int

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import DBAPICursor
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = [
    "LEASE_NAMESPACE",
    "WORKER_ID_ENV",
    "NoWorkerSlotAvailable",
    "WorkerLease",
    "lease_worker_id",
    "worker_id_from_env",
]

logger = logging.getLogger(__name__)

#: Name of the environment variable that fixes the worker id of a process (0 .. 1022).
WORKER_ID_ENV: Final = "WORKER_ID"
#: First key of the two-int advisory locks that lease worker slots; the second key is the slot.
#: ``zlib.crc32(b"alvin_python_lib.ids.worker_slot") & 0x7FFF_FFFF``: a fixed positive int32 so that
#: other advisory lock users of the database can stay clear of it.
LEASE_NAMESPACE: Final = 0x1BCF_A6B4

_INT32_MIN: Final = -(1 << 31)
_INT32_MAX: Final = (1 << 31) - 1


class NoWorkerSlotAvailable(RuntimeError):
    """Every leasable worker slot is held by another live process."""


def worker_id_from_env(
    layout: SnowflakeLayout = DEFAULT_LAYOUT, environ: Mapping[str, str] | None = None
) -> int | None:
    """The worker id set by ``WORKER_ID`` (``None`` when unset or empty).

    It must be in ``0 .. layout.max_worker_id - 1``: the highest id is the database's.
    """
    raw = (os.environ if environ is None else environ).get(WORKER_ID_ENV, "").strip()
    if not raw:
        return None
    try:
        worker_id = int(raw)
    except ValueError:
        raise ValueError(f"{WORKER_ID_ENV}={raw!r} is not an integer") from None
    if not 0 <= worker_id < layout.max_worker_id:
        raise ValueError(
            f"{WORKER_ID_ENV} must be in 0..{layout.max_worker_id - 1} "
            f"({layout.max_worker_id} is the database's worker id), got {worker_id}"
        )
    return worker_id


def _held_slots_sql(namespace: int, *, slot: int | None = None, this_session: bool = False) -> str:
    """SQL listing the granted advisory locks ``(namespace, slot)`` of the current database."""
    # pg_locks shows the two int4 keys as oids (unsigned). Only ints are interpolated.
    sql = (
        "SELECT objid FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"  # noqa: S608
        f" AND classid = {int(namespace) & 0xFFFF_FFFF}"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    if slot is not None:
        sql += f" AND objid = {int(slot)}"
    if this_session:
        sql += " AND pid = pg_backend_pid()"
    return sql


_live_leases: weakref.WeakSet[WorkerLease] = weakref.WeakSet()


class WorkerLease:
    """A worker id for this process, unique among live processes that lease from one database.

    Unless ``WORKER_ID`` is set (then that id is used and no lock is taken; pass ``environ={}`` to
    ignore it), the lease opens a dedicated connection (a fresh pool made with
    ``engine.pool.recreate()``, so it never takes a connection from, nor returns a locked one to,
    the engine's pool), switches it to AUTOCOMMIT and takes the session-level advisory lock
    ``pg_try_advisory_lock(namespace, slot)`` on the first free slot, trying the slots that
    ``pg_locks`` shows free first, from a random start, then the rest. The highest slot
    (``layout.database_worker_id``) is never leased. The lock lasts until :meth:`release`, the end of
    a ``with`` block, or the end of the process (the server frees it when the connection closes).
    If the connection breaks the server frees the lock too: :meth:`is_held` checks.
    """

    def __init__(
        self,
        engine: Engine,
        layout: SnowflakeLayout = DEFAULT_LAYOUT,
        *,
        namespace: int = LEASE_NAMESPACE,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        _check_int("namespace", namespace)
        if not _INT32_MIN <= namespace <= _INT32_MAX:
            raise ValueError("namespace must be a 32-bit signed int")
        self.layout = layout
        self.namespace = namespace
        self._engine = engine
        self._pid = os.getpid()
        self._connection: PoolProxiedConnection | None = None
        env_id = worker_id_from_env(layout, environ)
        if env_id is not None:
            self.worker_id = env_id
            self.from_env = True
            return
        self.from_env = False
        self.worker_id = self._acquire()
        _live_leases.add(self)

    def _acquire(self) -> int:
        pool = self._engine.pool.recreate()
        connection = pool.connect()
        try:
            connection.detach()  # closing it really closes it; the pool forgets it
            pool.dispose()
            assert connection.dbapi_connection is not None
            self._engine.dialect.set_isolation_level(connection.dbapi_connection, "AUTOCOMMIT")
            cursor = connection.cursor()
            try:
                slot = self._try_slots(cursor)
            finally:
                cursor.close()
        except BaseException:
            connection.close()
            raise
        if slot is None:
            connection.close()
            raise NoWorkerSlotAvailable(
                f"all {self.layout.max_worker_id} worker slots of advisory lock namespace "
                f"{self.namespace} are leased by other sessions"
            )
        self._connection = connection
        logger.info("leased snowflake worker id %d (namespace %d)", slot, self.namespace)
        return slot

    def _try_slots(self, cursor: DBAPICursor) -> int | None:
        # Only validated ints are interpolated (the DBAPI paramstyle is driver specific).
        slots = self.layout.max_worker_id  # 0 .. max_worker_id - 1 are leasable
        cursor.execute(_held_slots_sql(self.namespace))
        taken = {int(row[0]) for row in cursor.fetchall()}
        start = random.randrange(slots)
        order = [(start + i) % slots for i in range(slots)]
        for slot in [s for s in order if s not in taken] + [s for s in order if s in taken]:
            cursor.execute(f"SELECT pg_try_advisory_lock({self.namespace}, {slot})")
            row = cursor.fetchone()
            if row is not None and row[0]:
                return slot
        return None

    @property
    def held(self) -> bool:
        """True while this process holds (or believes it holds) the lock; False for ``WORKER_ID``."""
        return self._connection is not None and self._pid == os.getpid()

    def is_held(self) -> bool:
        """Ask the server whether the lock is still held by this lease's connection."""
        if not self.held:
            return False
        assert self._connection is not None
        cursor = self._connection.cursor()
        try:
            cursor.execute(_held_slots_sql(self.namespace, slot=self.worker_id, this_session=True))
            row = cursor.fetchone()
        except Exception:
            logger.warning("snowflake worker lease check failed", exc_info=True)
            return False
        finally:
            cursor.close()
        return row is not None

    def release(self) -> None:
        """Unlock the slot and close the connection (idempotent; a no-op in a forked child)."""
        connection, self._connection = self._connection, None
        _live_leases.discard(self)
        if connection is None or self._pid != os.getpid():
            return
        try:
            cursor = connection.cursor()
            cursor.execute(f"SELECT pg_advisory_unlock({self.namespace}, {self.worker_id})")
            cursor.close()
        except Exception:
            logger.warning("could not unlock snowflake worker slot cleanly", exc_info=True)
        finally:
            try:
                connection.close()  # closing the session frees the lock in any case
            except Exception:
                logger.warning("could not close the snowflake lease connection", exc_info=True)
        logger.info("released snowflake worker id %d", self.worker_id)

    def _forget_after_fork(self) -> None:
        """In a forked child: make sure the inherited connection can never talk to the server.

        The child shares the parent's socket; closing or finalising the connection here would end
        the parent's session and free its lock. Point the child's copy of the file descriptor at
        /dev/null instead, and drop the connection without closing it.
        """
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            dbapi = connection.dbapi_connection
            fileno = getattr(dbapi, "fileno", None)
            if callable(fileno):
                fd = int(fileno())
                devnull = os.open(os.devnull, os.O_RDWR)
                try:
                    os.dup2(devnull, fd)
                finally:
                    os.close(devnull)
        except Exception:  # noqa: S110 - best effort; psycopg 3 also refuses to close after fork
            pass
        _orphaned_connections.append(connection)

    def __enter__(self) -> WorkerLease:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        source = "env" if self.from_env else f"namespace={self.namespace}"
        return f"WorkerLease(worker_id={self.worker_id}, {source}, held={self.held})"


# Inherited lease connections of a forked child, kept alive so they are never finalised.
_orphaned_connections: list[object] = []


def lease_worker_id(
    engine: Engine,
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
    *,
    namespace: int = LEASE_NAMESPACE,
    environ: Mapping[str, str] | None = None,
) -> WorkerLease:
    """Lease a worker id (see :class:`WorkerLease`); ``WORKER_ID`` overrides leasing."""
    return WorkerLease(engine, layout, namespace=namespace, environ=environ)


def _forget_leases_in_child() -> None:
    for lease in list(_live_leases):
        lease._forget_after_fork()
    _live_leases.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_forget_leases_in_child)
