"""64-bit snowflake IDs: a Python generator, a PostgreSQL ``next_id()`` function and decode helpers.

Bit layout of the default :data:`DEFAULT_LAYOUT` (bit 63 is the most significant bit)::

    bit  63      : 0 (always; the id is a positive signed 64-bit int and fits PostgreSQL BIGINT)
    bits 62 .. 22: 41 bits, milliseconds since the epoch 2024-01-01T00:00:00Z (~69 years: 2093)
    bits 21 .. 12: 10 bits, worker id 0 .. 1023
    bits 11 ..  0: 12 bits, sequence 0 .. 4095 within one millisecond for one worker

    id = (ms_since_epoch << 22) | (worker_id << 12) | sequence

The seed used 43/10/10; 10 sequence bits cap one generator at 1,024,000 ids/s, below what the code
can make (about 2.2M/s on one core here), so the kit trades two bits of lifetime (278 -> 69 years)
for a 4x higher ceiling. It keeps 1,024 workers: every process (each gunicorn or Celery child)
leases one.

Ids sort by creation time (millisecond resolution) across workers, and strictly increase for one
generator. The epoch and the field widths are configurable with :class:`SnowflakeLayout` (63 bits in
total, at least 41 bits of time); every producer and consumer of one id space must use the same
layout.

Worker ids. The highest worker id (1023 in the default layout) belongs to the database: the SQL
``next_id()`` function (see :func:`next_id_function_sql`) stamps it on the ids it makes, and Python
never leases it. Python processes get theirs, in order of precedence, from an explicit ``worker_id``,
from the ``WORKER_ID`` environment variable (0 .. 1022, meant for single-process replicas with a
statically assigned id) or from a :class:`WorkerLease`: a PostgreSQL session-level advisory lock
``pg_try_advisory_lock(LEASE_NAMESPACE, slot)`` held on a dedicated connection for the life of the
process, so that live replicas never share a worker id. The lease connection must reach PostgreSQL
directly or through a session-pooling proxy (advisory locks do not survive transaction pooling).

Throughput. One generator makes at most 2**sequence_bits ids per millisecond (4,096,000 ids/s with
the default layout) and then waits for the next millisecond; the per-call cost is well under that
ceiling. The database's ``next_id()`` keeps its last ``(ms << sequence_bits) | sequence`` in the
sequence ``next_id_seq`` and issues ``greatest(now, last + 1)`` under the transaction-level advisory
lock ``(LEASE_NAMESPACE, 1023)``, released before it returns: its ids never repeat and strictly
increase even for bulk ``INSERT ... SELECT`` (their timestamps run ahead of the clock instead of
waiting when more than 4096 are asked for in one millisecond).

Typical use::

    from alvin_python_lib import ids

    ids.configure(engine=engine)  # once per process, after any fork
    new_id = ids.next_id()

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = ids.snowflake_pk()

Fork safety. A generator must not be shared by two processes. Create generators (and leases) after
forking; the module default set with :func:`configure` is invalidated in a forked child: a child of
a parent configured with an engine leases its own worker id on its first :func:`next_id` call, one
configured with a fixed worker id must call :func:`configure` again with another id. Lease
connections inherited by a child are neutralised so that the child can never release the parent's
lock.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Final, NamedTuple, Protocol

from sqlalchemy import DDL, BigInteger, MetaData, event, text
from sqlalchemy.orm import MappedColumn, mapped_column

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.engine.interfaces import DBAPICursor
    from sqlalchemy.pool import PoolProxiedConnection

__all__ = [
    "DEFAULT_EPOCH_MS",
    "DEFAULT_LAYOUT",
    "LEASE_NAMESPACE",
    "MAX_ID",
    "WORKER_ID_ENV",
    "ClockMovedBackwards",
    "DecodedId",
    "NoWorkerSlotAvailable",
    "SnowflakeGenerator",
    "SnowflakeLayout",
    "WorkerLease",
    "configure",
    "create_next_id",
    "decode",
    "default_generator",
    "drop_next_id",
    "drop_next_id_function_sql",
    "id_to_datetime",
    "install_next_id",
    "is_configured",
    "lease_worker_id",
    "max_id_for",
    "min_id_for",
    "next_id",
    "next_id_function_sql",
    "reset",
    "snowflake_pk",
    "worker_id_from_env",
]

logger = logging.getLogger(__name__)

#: 2024-01-01T00:00:00Z in Unix milliseconds, the default epoch.
DEFAULT_EPOCH_MS: Final = 1_704_067_200_000
#: The largest id of any layout (bit 63 is never set).
MAX_ID: Final = (1 << 63) - 1
#: Name of the environment variable that fixes the worker id of a process (0 .. 1022).
WORKER_ID_ENV: Final = "WORKER_ID"
#: First key of the two-int advisory locks that lease worker slots; the second key is the slot.
#: ``zlib.crc32(b"alvin_python_lib.ids.worker_slot") & 0x7FFF_FFFF``: a fixed positive int32 so that
#: other advisory lock users of the database can stay clear of it.
LEASE_NAMESPACE: Final = 0x1BCF_A6B4

_UNIX_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS: Final = timedelta(milliseconds=1)
_INT32_MIN: Final = -(1 << 31)
_INT32_MAX: Final = (1 << 31) - 1

_time_ns = time.time_ns


def _wall_clock_ms() -> int:
    """Unix time in whole milliseconds (floor), the default generator clock."""
    return _time_ns() // 1_000_000


def _ms_to_datetime(unix_ms: int) -> datetime:
    return _UNIX_EPOCH + timedelta(milliseconds=unix_ms)


def _datetime_to_ms(moment: datetime) -> int:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("a timezone-aware datetime is required (naive datetimes are ambiguous)")
    return (moment - _UNIX_EPOCH) // _ONE_MS


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    return value


class ClockMovedBackwards(RuntimeError):
    """The clock stepped back further than the generator's ``max_backwards_ms``.

    Raised instead of risking a duplicate id; ``behind_ms`` says how far back the clock went.
    """

    def __init__(self, behind_ms: int, max_backwards_ms: int) -> None:
        self.behind_ms = behind_ms
        self.max_backwards_ms = max_backwards_ms
        super().__init__(
            f"clock moved backwards by {behind_ms} ms (more than the tolerated "
            f"{max_backwards_ms} ms); refusing to generate ids until it catches up"
        )


class NoWorkerSlotAvailable(RuntimeError):
    """Every leasable worker slot is held by another live process."""


@dataclass(frozen=True)
class SnowflakeLayout:
    """The bit layout of an id: ``time_bits + worker_bits + sequence_bits == 63``.

    ``epoch_ms`` is the Unix time in milliseconds that the time field counts from.
    """

    epoch_ms: int = DEFAULT_EPOCH_MS
    time_bits: int = 41
    worker_bits: int = 10
    sequence_bits: int = 12

    def __post_init__(self) -> None:
        for name in ("epoch_ms", "time_bits", "worker_bits", "sequence_bits"):
            _check_int(name, getattr(self, name))
        if self.epoch_ms < 0:
            raise ValueError("epoch_ms must be >= 0 (Unix milliseconds)")
        if self.time_bits < 41:
            raise ValueError("time_bits must be >= 41 (about 69 years)")
        if self.worker_bits < 1 or self.sequence_bits < 1:
            raise ValueError("worker_bits and sequence_bits must be >= 1")
        total = self.time_bits + self.worker_bits + self.sequence_bits
        if total != 63:
            raise ValueError(f"time_bits + worker_bits + sequence_bits must be 63, got {total}")

    @classmethod
    def from_epoch(cls, epoch: datetime, **bits: int) -> SnowflakeLayout:
        """A layout whose epoch is the timezone-aware ``epoch``."""
        return cls(_datetime_to_ms(epoch), **bits)

    @property
    def epoch(self) -> datetime:
        """The epoch as a UTC datetime."""
        return _ms_to_datetime(self.epoch_ms)

    @property
    def max_worker_id(self) -> int:
        """The highest worker id; it is the database's (see :attr:`database_worker_id`)."""
        return (1 << self.worker_bits) - 1

    @property
    def database_worker_id(self) -> int:
        """The worker id of the SQL ``next_id()`` function, never leased to Python processes."""
        return self.max_worker_id

    @property
    def max_sequence(self) -> int:
        return (1 << self.sequence_bits) - 1

    @property
    def worker_shift(self) -> int:
        return self.sequence_bits

    @property
    def time_shift(self) -> int:
        return self.worker_bits + self.sequence_bits

    @property
    def max_ms(self) -> int:
        """The last Unix millisecond that the time field can represent."""
        return self.epoch_ms + (1 << self.time_bits) - 1

    def compose(self, unix_ms: int, worker_id: int, sequence: int) -> int:
        """The id for ``unix_ms`` (Unix milliseconds), ``worker_id`` and ``sequence``."""
        if not self.epoch_ms <= unix_ms <= self.max_ms:
            raise ValueError(f"{unix_ms} ms is outside the layout's time range")
        if not 0 <= worker_id <= self.max_worker_id:
            raise ValueError(f"worker_id must be in 0..{self.max_worker_id}, got {worker_id}")
        if not 0 <= sequence <= self.max_sequence:
            raise ValueError(f"sequence must be in 0..{self.max_sequence}, got {sequence}")
        return (
            ((unix_ms - self.epoch_ms) << self.time_shift)
            | (worker_id << self.worker_shift)
            | sequence
        )


#: The layout of the kit: 41 bits of milliseconds since 2024-01-01Z, 10 worker bits, 12 sequence bits.
DEFAULT_LAYOUT: Final = SnowflakeLayout()


class DecodedId(NamedTuple):
    """The fields of an id. ``ms`` is the Unix time in milliseconds (the same as ``timestamp``)."""

    timestamp: datetime
    worker_id: int
    sequence: int
    ms: int


def decode(snowflake_id: int, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> DecodedId:
    """Split an id into its creation time (UTC), worker id and sequence."""
    _check_int("snowflake_id", snowflake_id)
    if not 0 <= snowflake_id <= MAX_ID:
        raise ValueError(f"{snowflake_id} is not a snowflake id (0 .. 2**63-1)")
    unix_ms = (snowflake_id >> layout.time_shift) + layout.epoch_ms
    return DecodedId(
        timestamp=_ms_to_datetime(unix_ms),
        worker_id=(snowflake_id >> layout.worker_shift) & layout.max_worker_id,
        sequence=snowflake_id & layout.max_sequence,
        ms=unix_ms,
    )


def id_to_datetime(snowflake_id: int, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> datetime:
    """The creation time of an id (UTC, millisecond precision)."""
    return decode(snowflake_id, layout).timestamp


def min_id_for(moment: datetime, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> int:
    """The smallest id that can be created at ``moment`` (timezone-aware).

    Ids created at or after ``moment`` are ``>= min_id_for(moment)``, so the ids created in
    ``[start, end)`` are ``min_id_for(start) <= id < min_id_for(end)`` (at millisecond precision:
    ``moment`` is rounded down to its millisecond). Moments before the epoch give
    0; moments after the layout's range raise ``ValueError``.
    """
    unix_ms = _datetime_to_ms(moment)
    if unix_ms < layout.epoch_ms:
        return 0
    if unix_ms > layout.max_ms:
        raise ValueError(f"{moment.isoformat()} is after the last time the layout can represent")
    return (unix_ms - layout.epoch_ms) << layout.time_shift


def max_id_for(moment: datetime, layout: SnowflakeLayout = DEFAULT_LAYOUT) -> int:
    """The largest id that can be created in the millisecond of ``moment`` (timezone-aware)."""
    unix_ms = _datetime_to_ms(moment)
    if unix_ms < layout.epoch_ms:
        raise ValueError(f"{moment.isoformat()} is before the layout's epoch")
    if unix_ms > layout.max_ms:
        raise ValueError(f"{moment.isoformat()} is after the last time the layout can represent")
    return ((unix_ms + 1 - layout.epoch_ms) << layout.time_shift) - 1


class SnowflakeGenerator:
    """Thread-safe generator of strictly increasing ids for one worker id.

    ``clock`` returns the Unix time in whole milliseconds (injectable for tests); ``sleep`` is used
    while waiting for a clock that stepped back by at most ``max_backwards_ms``. A bigger step back
    raises :class:`ClockMovedBackwards`. When the sequence of one millisecond is exhausted the
    generator waits (spinning on the clock) for the next millisecond, which caps one generator at
    ``2**sequence_bits`` ids per millisecond (4,096,000 ids/s with the default layout). The
    generator never returns the same id twice, but it cannot know about other generators: give
    each one its own worker id.
    """

    __slots__ = (
        "_base",
        "_clock",
        "_last_ms",
        "_layout",
        "_lock",
        "_max_backwards_ms",
        "_max_ms",
        "_max_sequence",
        "_sequence",
        "_sleep",
        "_time_shift",
        "_worker_id",
    )

    def __init__(
        self,
        worker_id: int,
        layout: SnowflakeLayout = DEFAULT_LAYOUT,
        *,
        clock: Callable[[], int] | None = None,
        max_backwards_ms: int = 10,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        _check_int("worker_id", worker_id)
        if not 0 <= worker_id <= layout.max_worker_id:
            raise ValueError(f"worker_id must be in 0..{layout.max_worker_id}, got {worker_id}")
        if _check_int("max_backwards_ms", max_backwards_ms) < 0:
            raise ValueError("max_backwards_ms must be >= 0")
        self._worker_id = worker_id
        self._layout = layout
        self._clock: Callable[[], int] = clock if clock is not None else _wall_clock_ms
        self._sleep = sleep
        self._max_backwards_ms = max_backwards_ms
        self._lock = threading.Lock()
        self._time_shift = layout.time_shift
        # id == (ms << time_shift) + base + sequence, for Unix milliseconds ms
        self._base = (worker_id << layout.worker_shift) - (layout.epoch_ms << layout.time_shift)
        self._max_sequence = layout.max_sequence
        self._max_ms = layout.max_ms
        # Before the first id: any clock reading >= epoch is "new", and an exhausted sequence sends
        # a reading of epoch - 1 (or earlier) to the slow path, which rejects it.
        self._last_ms = layout.epoch_ms - 1
        self._sequence = layout.max_sequence

    @property
    def worker_id(self) -> int:
        return self._worker_id

    @property
    def layout(self) -> SnowflakeLayout:
        return self._layout

    def __repr__(self) -> str:
        return f"SnowflakeGenerator(worker_id={self._worker_id}, layout={self._layout!r})"

    def next_id(self) -> int:
        """A new id, greater than every id this generator returned before."""
        with self._lock:
            ms = self._clock()
            if ms > self._last_ms:
                if ms > self._max_ms:
                    raise OverflowError("the clock is past the last time the layout can represent")
                self._last_ms = ms
                self._sequence = 0
                return (ms << self._time_shift) + self._base
            if ms == self._last_ms and self._sequence < self._max_sequence:
                self._sequence += 1
                return (ms << self._time_shift) + self._base + self._sequence
            return self._next_id_slow(ms)

    def _next_id_slow(self, ms: int) -> int:
        # Lock held. Either this millisecond's sequence is exhausted or the clock is behind.
        clock = self._clock
        last = self._last_ms
        if ms < self._layout.epoch_ms:
            raise RuntimeError(
                f"the clock ({ms} ms) is before the layout's epoch ({self._layout.epoch_ms} ms)"
            )
        while True:
            if ms > last:
                if ms > self._max_ms:
                    raise OverflowError("the clock is past the last time the layout can represent")
                self._last_ms = ms
                self._sequence = 0
                return (ms << self._time_shift) + self._base
            if ms == last and self._sequence < self._max_sequence:
                self._sequence += 1
                return (ms << self._time_shift) + self._base + self._sequence
            behind = last - ms
            if behind > self._max_backwards_ms:
                raise ClockMovedBackwards(behind, self._max_backwards_ms)
            if behind:
                # The clock stepped back a little: wait for it to reach the last millisecond used.
                self._sleep(behind / 1000)
            # else: sequence exhausted, spin until the next millisecond (less than 1 ms away).
            ms = clock()

    def _resume_from(self, other: SnowflakeGenerator) -> None:
        """Continue after ``other`` (same worker id and layout): never repeat its ids."""
        with other._lock, self._lock:
            if (other._last_ms, other._sequence) > (self._last_ms, self._sequence):
                self._last_ms = other._last_ms
                self._sequence = other._sequence

    def _wait_past_last_ms(self) -> None:
        """Wait until the clock is past the last millisecond used (before freeing the worker id)."""
        with self._lock:
            deadline = time.monotonic() + (self._max_backwards_ms + 2) / 1000
            while self._clock() <= self._last_ms and time.monotonic() < deadline:
                self._sleep(0.0002)


# --------------------------------------------------------------------------------------------
# Worker id leases
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The module default generator
# --------------------------------------------------------------------------------------------


class _DefaultState:
    """The module default generator and how it was made."""

    __slots__ = ("forked_from_fixed_id", "generator", "lease", "lease_again_from", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.generator: SnowflakeGenerator | None = None
        self.lease: WorkerLease | None = None
        # In a forked child whose parent leased from an engine: lease again on first use.
        self.lease_again_from: tuple[Engine, SnowflakeLayout] | None = None
        # In a forked child whose parent used a fixed worker id: refuse to reuse it.
        self.forked_from_fixed_id: int | None = None


_state = _DefaultState()


def configure(
    *,
    worker_id: int | None = None,
    engine: Engine | None = None,
    layout: SnowflakeLayout = DEFAULT_LAYOUT,
) -> SnowflakeGenerator:
    """Set up the generator behind :func:`next_id` for this process and return it.

    The worker id is ``worker_id`` if given, else ``WORKER_ID`` from the environment, else one
    leased from ``engine`` (see :class:`WorkerLease`). Neither may be the database's worker id.
    Calling it again replaces the previous generator (and releases its lease).
    """
    with _state.lock:
        return _configure_locked(worker_id=worker_id, engine=engine, layout=layout)


def _configure_locked(
    *, worker_id: int | None, engine: Engine | None, layout: SnowflakeLayout
) -> SnowflakeGenerator:
    state = _state
    lease: WorkerLease | None = None
    if worker_id is not None:
        _check_int("worker_id", worker_id)
        if not 0 <= worker_id < layout.max_worker_id:
            raise ValueError(
                f"worker_id must be in 0..{layout.max_worker_id - 1} "
                f"({layout.max_worker_id} is the database's worker id), got {worker_id}"
            )
    else:
        worker_id = worker_id_from_env(layout)
        if worker_id is None:
            if engine is None:
                raise ValueError(
                    "alvin_python_lib.ids.configure() needs a worker_id, the "
                    f"{WORKER_ID_ENV} environment variable or an engine to lease one from"
                )
            lease = WorkerLease(engine, layout, environ={})
            worker_id = lease.worker_id
    generator = SnowflakeGenerator(worker_id, layout)
    old, old_lease = state.generator, state.lease
    if old is not None and old.worker_id == worker_id and old.layout == layout:
        generator._resume_from(old)
    state.generator, state.lease = generator, lease
    state.lease_again_from = (engine, layout) if lease is not None and engine is not None else None
    state.forked_from_fixed_id = None
    _release_default(old, old_lease)
    return generator


def _release_default(generator: SnowflakeGenerator | None, lease: WorkerLease | None) -> None:
    if lease is None:
        return
    if generator is not None:
        # Whoever leases the slot next must not produce an id in our last millisecond.
        generator._wait_past_last_ms()
    lease.release()


def is_configured() -> bool:
    """True when :func:`configure` has set up the default generator of this process."""
    return _state.generator is not None


def default_generator() -> SnowflakeGenerator:
    """The generator behind :func:`next_id` (``RuntimeError`` when not configured)."""
    generator = _state.generator
    return generator if generator is not None else _default_after_fork()


def next_id() -> int:
    """A new id from the generator set up by :func:`configure`."""
    generator = _state.generator
    if generator is None:
        generator = _default_after_fork()
    return generator.next_id()


def _default_after_fork() -> SnowflakeGenerator:
    state = _state
    with state.lock:
        if state.generator is not None:
            return state.generator
        if state.lease_again_from is not None:
            engine, layout = state.lease_again_from
            return _configure_locked(worker_id=None, engine=engine, layout=layout)
        if state.forked_from_fixed_id is not None:
            raise RuntimeError(
                "this process was forked from one whose ids use the fixed worker id "
                f"{state.forked_from_fixed_id}; call alvin_python_lib.ids.configure() in the "
                "child with another worker id (or an engine to lease one)"
            )
    raise RuntimeError(
        "no snowflake generator is configured: call alvin_python_lib.ids.configure() "
        "(with worker_id=..., WORKER_ID set, or engine=...) at process start"
    )


def reset() -> None:
    """Forget the module default generator and release its lease (for tests)."""
    state = _state
    with state.lock:
        generator, lease = state.generator, state.lease
        state.generator = state.lease = state.lease_again_from = None
        state.forked_from_fixed_id = None
    _release_default(generator, lease)


def _after_fork_in_child() -> None:
    state = _state
    state.lock = threading.Lock()  # another thread may have held it at fork time
    if state.generator is not None and state.lease is None:
        state.forked_from_fixed_id = state.generator.worker_id
    state.generator = state.lease = None
    for lease in list(_live_leases):
        lease._forget_after_fork()
    _live_leases.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - not on Windows
    os.register_at_fork(after_in_child=_after_fork_in_child)


# --------------------------------------------------------------------------------------------
# PostgreSQL next_id() and SQLAlchemy helpers
# --------------------------------------------------------------------------------------------


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
    Python code should use :func:`next_id`. Install it once per database (two copies in two
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


def snowflake_pk(*, server_default: bool = True, schema: str | None = None) -> MappedColumn[int]:
    """A BIGINT primary key column: ``id: Mapped[int] = snowflake_pk()``.

    The ORM fills it from :func:`next_id` (the configured Python generator); with
    ``server_default`` (the default) rows inserted by plain SQL get ``next_id()`` from the database,
    which must then have the function (see :func:`install_next_id`, :func:`create_next_id`);
    ``schema`` qualifies the function name.
    """
    function = "next_id()" if schema is None else f"{_quote_ident(schema)}.next_id()"
    return mapped_column(
        BigInteger,
        primary_key=True,
        autoincrement=False,
        default=next_id,
        server_default=text(function) if server_default else None,
    )
