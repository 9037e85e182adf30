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

Who owns the generator. A service builds its generator in its composition root, once per process,
hands it to the code that makes ids, and closes it at shutdown::

    from alvin_python_lib import ids

    generator = ids.lease_generator(database.engine)  # an ids.LeasedGenerator
    service = UserService(ids=generator)              # typed ids.IdGenerator: next_id() -> int
    ...
    generator.close()                                 # frees the worker id

Tests hand in ``ids.SnowflakeGenerator(worker_id)``. Scripts, benchmarks and the ORM default of
:func:`snowflake_pk` use the process-wide default instead (``snowflake_pk(python_default=False)``
leaves the id to the caller)::

    ids.configure(engine=engine)  # once per process, after any fork
    new_id = ids.next_id()

    class User(Base):
        __tablename__ = "users"
        id: Mapped[int] = ids.snowflake_pk()

Fork safety. A generator must not be shared by two processes. Create plain generators (and
leases) after forking. A :class:`LeasedGenerator`, and the default set with :func:`configure`,
may be made before a fork: a forked child leases its own worker id on first use; one whose id is
fixed (``worker_id=...`` or ``WORKER_ID``) refuses to make ids in the child, where
:func:`configure` must be called again with another id. Lease connections inherited by a child are
neutralised so that the child can never release the parent's lock.

Modules: ``layout`` (the bits, decoding), ``generator`` (:class:`SnowflakeGenerator`), ``lease``
(worker ids), ``leased`` (:class:`LeasedGenerator`), ``default`` (:func:`configure`,
:func:`next_id`), ``sql`` (the PostgreSQL function and :func:`snowflake_pk`). Import from the
package: ``from alvin_python_lib import ids``.
"""

from __future__ import annotations

from alvin_python_lib.ids.default import (
    configure,
    default_generator,
    is_configured,
    next_id,
    reset,
)
from alvin_python_lib.ids.generator import ClockMovedBackwards, IdGenerator, SnowflakeGenerator
from alvin_python_lib.ids.layout import (
    DEFAULT_EPOCH_MS,
    DEFAULT_LAYOUT,
    MAX_ID,
    DecodedId,
    SnowflakeLayout,
    decode,
    id_to_datetime,
    max_id_for,
    min_id_for,
)
from alvin_python_lib.ids.lease import (
    LEASE_NAMESPACE,
    WORKER_ID_ENV,
    NoWorkerSlotAvailable,
    WorkerLease,
    lease_worker_id,
    worker_id_from_env,
)
from alvin_python_lib.ids.leased import LeasedGenerator, lease_generator
from alvin_python_lib.ids.sql import (
    create_next_id,
    drop_next_id,
    drop_next_id_function_sql,
    install_next_id,
    next_id_function_sql,
    snowflake_pk,
)

__all__ = [
    "DEFAULT_EPOCH_MS",
    "DEFAULT_LAYOUT",
    "LEASE_NAMESPACE",
    "MAX_ID",
    "WORKER_ID_ENV",
    "ClockMovedBackwards",
    "DecodedId",
    "IdGenerator",
    "LeasedGenerator",
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
    "lease_generator",
    "lease_worker_id",
    "max_id_for",
    "min_id_for",
    "next_id",
    "next_id_function_sql",
    "reset",
    "snowflake_pk",
    "worker_id_from_env",
]
