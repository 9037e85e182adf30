"""APScheduler 3 runner for several replicas: every tick of a job runs once, on one replica.

Run the same scheduler process (same ``name``, same jobs) as many times as you like; PostgreSQL
session-level advisory locks decide which replica runs each job.

One module on purpose, longer than the kit's usual: the lock protocol described below and the
scheduler that applies it at every tick are one mechanism sharing private state (the replica's
lock connection, the locks it believes it holds); split, neither half is usable alone. About a
fifth of the file is this description.

Design
------
* **One lock per job.** The key is the pair ``(lock_namespace, crc32("<name>:<job id>"))`` as two
  signed int32 (``pg_try_advisory_lock(int4, int4)``). :data:`SCHEDULER_LOCK_NAMESPACE` keeps these
  locks apart from the kit's other advisory locks; :func:`lock_key` computes a key. Two jobs of one
  scheduler whose ids hash to the same key are refused by :meth:`LockedScheduler.add_job`.
* **One dedicated connection per replica.** The locks are held on a connection that the scheduler
  takes from the given Engine, detaches from the pool (so it really closes and is never handed to
  anything else) and puts in AUTOCOMMIT mode; its ``application_name`` is
  ``scheduler:<name>`` so ``pg_stat_activity`` shows the holders. Because session-level locks belong
  to one server session, use a direct connection or a *session*-pooling PgBouncer, never
  transaction pooling.
* **Every tick, on every replica**, before calling the job:

  - the replica that holds the job's lock re-verifies that its session still holds it
    (``pg_locks`` row for its own ``pg_backend_pid()``) and runs the job;
  - a replica that does not hold it calls ``pg_try_advisory_lock`` once (it never waits) and runs
    the job only if it got the lock, keeping it from then on;
  - if the connection fails, the replica forgets every lock it believed it held (a dead session has
    released them), reconnects once and tries to acquire like any non-holder; if that fails too,
    the tick is skipped (counted in ``lock_errors``).

  The holder keeps the lock for its whole lifetime, so a replica whose tick fires a moment later can
  never run that tick again. When the holder goes away (:meth:`~LockedScheduler.shutdown`, crash,
  ``SIGKILL``, lost network) its session ends, PostgreSQL releases the lock and the next replica to
  tick takes it: the job moves within about one tick. A holder whose connection dropped cannot keep
  running alongside the new holder, because it checks the lock on a live session before each run.
* **Ticks are shared by the replicas**: interval triggers given by name (``"interval"``) without a
  ``start_date`` are aligned to the Unix epoch (an hourly job fires on the hour on every replica);
  the scheduler runs in UTC; ``coalesce=True`` and ``max_instances=1`` so a late replica runs a
  missed tick once, and never overlaps itself; ``misfire_grace_time`` drops ticks that are too late.

Limits, by design (write jobs to be idempotent, as for Celery tasks):

* Hand-over is at-least-once at its edge: if the holder's session dies *while* it runs a tick, or
  between its lock check and the moment a slower replica fires the same tick, that tick may run
  again on the new holder. Keep PostgreSQL TCP keepalives short so a dead peer is detected.
* A job that runs longer than its interval keeps running; its next ticks are skipped locally
  (``max_instances=1``) and the other replicas skip them too, since the lock is still held.
* Jobs live in memory (each replica adds the same jobs at start-up); persistent job stores are not
  used.

Metrics (Prometheus): ``scheduler_job_runs_total{scheduler,job,outcome}`` (``ok``, ``error``,
``skipped``: lock contention), ``scheduler_job_duration_seconds{scheduler,job}`` and
``scheduler_lock_errors_total{scheduler,job}``. With tracing on, each run is a ``scheduler.job`` span
(attributes ``alvin.scheduler.name``, ``alvin.scheduler.job.id``).

Each run binds a fresh request id for its log lines, and calls ``database.remove()`` afterwards when
a database is given, even if the job raised. :func:`current_run_time` gives the scheduled time of the
tick being run. :func:`run_forever` is the process entry point: it installs SIGTERM/SIGINT handlers
and shuts the scheduler down cleanly (waiting for running jobs, releasing the locks).

Install with the ``scheduler`` extra: ``pip install alvin-python-lib[scheduler]``.
"""

from __future__ import annotations

import signal
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from types import FrameType
from typing import Any, Final

from apscheduler.events import EVENT_SCHEDULER_STARTED  # type: ignore[import-untyped]
from apscheduler.executors.base import run_job  # type: ignore[import-untyped]
from apscheduler.executors.pool import ThreadPoolExecutor  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.schedulers.blocking import BlockingScheduler  # type: ignore[import-untyped]
from prometheus_client import Counter, Histogram
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from alvin_python_lib import telemetry
from alvin_python_lib.db.database import SupportsRemove
from alvin_python_lib.logging import bind_request_id, clear_request_id, get_logger

__all__ = [
    "SCHEDULER_LOCK_NAMESPACE",
    "JobStats",
    "LockedScheduler",
    "RunHook",
    "current_run_time",
    "lock_key",
    "run_forever",
]

#: First int32 of every scheduler lock key (ASCII "ALSC"), so they never meet other advisory locks.
SCHEDULER_LOCK_NAMESPACE: Final = 0x414C5343

#: Interval triggers without a ``start_date`` count their ticks from here, on every replica alike.
_INTERVAL_EPOCH: Final = datetime(1970, 1, 1, tzinfo=timezone.utc)

#: Hook signature: ``hook(job_id, scheduled_run_time)``.
RunHook = Callable[[str, datetime], None]

_log = get_logger(__name__)

JOB_RUNS = Counter(
    "scheduler_job_runs",
    "Ticks of each job on this replica: ok, error, or skipped (another replica holds the lock).",
    ["scheduler", "job", "outcome"],
)
JOB_DURATION = Histogram(
    "scheduler_job_duration_seconds", "Run time of the jobs this replica ran.", ["scheduler", "job"]
)
LOCK_ERRORS = Counter(
    "scheduler_lock_errors",
    "Ticks skipped because the job's lock could not be checked (database unreachable).",
    ["scheduler", "job"],
)
_current_run_time: ContextVar[datetime | None] = ContextVar(
    "alvin_scheduler_run_time", default=None
)
_UNSET: Any = object()

_TRY_LOCK = text("SELECT pg_try_advisory_lock(:k1, :k2)")
_HOLDS_LOCK = text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND objsubid = 2"
    " AND classid::bigint = :c AND objid::bigint = :o)"
)


def _int32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x1_0000_0000 if value >= 0x8000_0000 else value


def lock_key(
    name: str, job_id: str, *, namespace: int = SCHEDULER_LOCK_NAMESPACE
) -> tuple[int, int]:
    """The advisory lock key ``(namespace, crc32("<name>:<job_id>"))`` as two signed int32."""
    return _int32(namespace), _int32(zlib.crc32(f"{name}:{job_id}".encode()))


def current_run_time() -> datetime | None:
    """The scheduled (not actual) time of the tick being run, inside a job; None elsewhere."""
    return _current_run_time.get()


@dataclass
class JobStats:
    """Counters of one job on this replica."""

    #: Ticks this replica ran (including those that raised).
    runs: int = 0
    #: Ticks skipped because another replica holds the job's lock.
    skipped_not_leader: int = 0
    #: Runs that raised.
    errors: int = 0
    #: Ticks skipped because the lock could not be checked (database unreachable).
    lock_errors: int = 0
    #: Scheduled time of the last tick this replica ran.
    last_run_time: datetime | None = None


@dataclass
class _LockedJob:
    job_id: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    key: tuple[int, int]
    held: bool = False
    stats: JobStats = field(default_factory=JobStats)


def _run_job_at(job: Any, jobstore_alias: str, run_times: list[datetime], logger: str) -> list[Any]:
    """APScheduler's ``run_job``, with each scheduled time visible to the job through a ContextVar."""
    events: list[Any] = []
    for run_time in run_times:
        token = _current_run_time.set(run_time)
        try:
            events.extend(run_job(job, jobstore_alias, [run_time], logger))
        finally:
            _current_run_time.reset(token)
    return events


class _TickExecutor(ThreadPoolExecutor):  # type: ignore[misc]  # APScheduler 3 is untyped
    """The thread pool executor, running jobs through :func:`_run_job_at`."""

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def callback(future: Any) -> None:
            exc = future.exception()
            if exc is not None:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, future.result())

        future = self._pool.submit(
            _run_job_at, job, job._jobstore_alias, run_times, self._logger.name
        )
        future.add_done_callback(callback)


class LockedScheduler:
    """An APScheduler 3 scheduler whose jobs run on one replica per tick (see the module docs).

    ``engine`` provides the dedicated lock connection. ``background=False`` wraps a
    ``BlockingScheduler`` (:meth:`start` blocks; the usual process entry point, see
    :func:`run_forever`), ``background=True`` a ``BackgroundScheduler`` (:meth:`start` returns).
    ``name`` separates schedulers that share a database: replicas of one scheduler use the same
    name. ``on_run`` / ``on_skip`` are called with ``(job_id, scheduled_run_time)`` when this replica
    runs a tick / skips it because another replica holds the lock (for metrics and tests; their
    errors are logged and ignored).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        name: str = "scheduler",
        background: bool = False,
        database: SupportsRemove | None = None,
        misfire_grace_time: int | None = 30,
        max_workers: int = 10,
        lock_namespace: int = SCHEDULER_LOCK_NAMESPACE,
        on_run: RunHook | None = None,
        on_skip: RunHook | None = None,
    ) -> None:
        self.engine = engine
        self.name = name
        self.background = background
        self.database = database
        self.lock_namespace = lock_namespace
        self.on_run = on_run
        self.on_skip = on_skip
        scheduler_cls = BackgroundScheduler if background else BlockingScheduler
        self._scheduler: Any = scheduler_cls(
            timezone=timezone.utc,
            executors={"default": _TickExecutor(max_workers)},
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": misfire_grace_time,
            },
        )
        self._jobs: dict[str, _LockedJob] = {}
        self._conn: Connection | None = None
        self._conn_lock = threading.Lock()  # one statement at a time on the lock connection
        self._stats_lock = threading.Lock()
        self._closed = False

    # -- public API ------------------------------------------------------------------------------

    @property
    def apscheduler(self) -> Any:
        """The wrapped APScheduler scheduler (listeners, pausing, job inspection)."""
        return self._scheduler

    @property
    def running(self) -> bool:
        """Whether the scheduler has been started and not shut down."""
        return bool(self._scheduler.running)

    @property
    def stats(self) -> dict[str, JobStats]:
        """A snapshot of each job's counters on this replica."""
        with self._stats_lock:
            return {job_id: replace(job.stats) for job_id, job in self._jobs.items()}

    def is_leader(self, job_id: str) -> bool:
        """Whether this replica held ``job_id``'s lock at its last check."""
        return self._jobs[job_id].held

    def add_job(
        self,
        func: Callable[..., Any],
        trigger: Any,
        *,
        id: str,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        misfire_grace_time: int | None = _UNSET,
        **trigger_args: Any,
    ) -> Any:
        """Schedule ``func(*args, **kwargs)`` under the job's lock; returns the APScheduler Job.

        ``trigger`` is an APScheduler trigger or its name (``"interval"``, ``"cron"``, ``"date"``)
        with ``trigger_args`` (``seconds=30``, ``minute="*/5"`` ...). ``id`` is required and must be
        the same on every replica: it names the lock.
        """
        if id in self._jobs:
            raise ValueError(f"job {id!r} is already scheduled")
        key = lock_key(self.name, id, namespace=self.lock_namespace)
        for other in self._jobs.values():
            if other.key == key:
                raise ValueError(
                    f"jobs {other.job_id!r} and {id!r} hash to the same lock key; rename one"
                )
        if trigger == "interval" and "start_date" not in trigger_args:
            trigger_args["start_date"] = _INTERVAL_EPOCH
        options: dict[str, Any] = {}
        if misfire_grace_time is not _UNSET:
            options["misfire_grace_time"] = misfire_grace_time
        job = _LockedJob(id, func, tuple(args), dict(kwargs or {}), key)
        with self._stats_lock:
            self._jobs[id] = job
        try:
            return self._scheduler.add_job(
                self._run,
                trigger,
                args=(id,),
                id=id,
                name=name or getattr(func, "__qualname__", id),
                coalesce=True,
                max_instances=1,
                **options,
                **trigger_args,
            )
        except BaseException:
            with self._stats_lock:
                del self._jobs[id]
            raise

    def start(self) -> None:
        """Start ticking; blocks until :meth:`shutdown` unless ``background=True``."""
        with self._conn_lock:
            self._closed = False
        self._scheduler.start()

    def shutdown(self, wait: bool = True) -> None:
        """Stop ticking, then release every lock and close the lock connection.

        With ``wait=True`` running jobs finish first, so no other replica starts the next tick while
        one of ours is still running. Safe to call more than once.
        """
        if self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        with self._conn_lock:
            self._closed = True
            conn, self._conn = self._conn, None
            for job in self._jobs.values():
                job.held = False
            if conn is not None:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock_all()"))
                except SQLAlchemyError:
                    _log.warning("scheduler.unlock_failed", scheduler=self.name, exc_info=True)
                finally:
                    conn.close()  # detached: really closes, which releases the locks anyway
        _log.info("scheduler.stopped", scheduler=self.name)

    # -- ticks -----------------------------------------------------------------------------------

    def _run(self, job_id: str) -> Any:
        job = self._jobs[job_id]
        scheduled = _current_run_time.get() or datetime.now(timezone.utc)
        bind_request_id()
        try:
            if not self._claim(job):
                return None
            with self._stats_lock:
                job.stats.runs += 1
                job.stats.last_run_time = scheduled
            self._call_hook(self.on_run, job_id, scheduled)
            _log.info("scheduler.job.run", job_id=job_id, scheduled_run_time=scheduled.isoformat())
            started = time.perf_counter()
            outcome = "error"
            try:
                # namespaced: no semantic convention covers scheduled jobs
                attributes = {"alvin.scheduler.name": self.name, "alvin.scheduler.job.id": job_id}
                with telemetry.span("scheduler.job", **attributes):
                    result = job.func(*job.args, **job.kwargs)
                outcome = "ok"
                return result
            except BaseException:
                with self._stats_lock:
                    job.stats.errors += 1
                raise
            finally:
                JOB_RUNS.labels(self.name, job_id, outcome).inc()
                JOB_DURATION.labels(self.name, job_id).observe(time.perf_counter() - started)
        finally:
            try:
                if self.database is not None:
                    self.database.remove()
            finally:
                clear_request_id()

    def _claim(self, job: _LockedJob) -> bool:
        """Whether this replica may run ``job``'s current tick (see the module docs)."""
        scheduled = _current_run_time.get() or datetime.now(timezone.utc)
        with self._conn_lock:
            if self._closed:
                return False
            for attempt in (1, 2):
                try:
                    held = self._check_or_acquire(job)
                    break
                except SQLAlchemyError:
                    self._drop_connection()
                    if attempt == 2:
                        _log.warning(
                            "scheduler.lock_check_failed", job_id=job.job_id, exc_info=True
                        )
                        with self._stats_lock:
                            job.stats.lock_errors += 1
                        LOCK_ERRORS.labels(self.name, job.job_id).inc()
                        return False
        if not held:
            with self._stats_lock:
                job.stats.skipped_not_leader += 1
            _log.debug("scheduler.job.skipped", job_id=job.job_id, reason="not_leader")
            JOB_RUNS.labels(self.name, job.job_id, "skipped").inc()
            self._call_hook(self.on_skip, job.job_id, scheduled)
        return held

    def _check_or_acquire(self, job: _LockedJob) -> bool:
        conn = self._connection()
        k1, k2 = job.key
        if job.held:
            still = conn.execute(_HOLDS_LOCK, {"c": k1 & 0xFFFFFFFF, "o": k2 & 0xFFFFFFFF}).scalar()
            if still:
                return True
            job.held = False
            _log.warning("scheduler.lock_lost", job_id=job.job_id, scheduler=self.name)
        job.held = bool(conn.execute(_TRY_LOCK, {"k1": k1, "k2": k2}).scalar())
        if job.held:
            _log.info("scheduler.lock_acquired", job_id=job.job_id, scheduler=self.name)
        return job.held

    def _connection(self) -> Connection:
        if self._conn is None:
            conn = self.engine.connect()
            try:
                conn.execution_options(isolation_level="AUTOCOMMIT")
                conn.detach()
                conn.execute(
                    text("SELECT set_config('application_name', :n, false)"),
                    {"n": f"scheduler:{self.name}"[:63]},
                )
            except BaseException:
                conn.invalidate()
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _drop_connection(self) -> None:
        """Forget a failed connection and every lock held on it (its session is gone)."""
        conn, self._conn = self._conn, None
        for job in self._jobs.values():
            if job.held:
                _log.warning("scheduler.lock_connection_lost", job_id=job.job_id)
            job.held = False
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except SQLAlchemyError:
                pass

    def _call_hook(self, hook: RunHook | None, job_id: str, scheduled: datetime) -> None:
        if hook is None:
            return
        try:
            hook(job_id, scheduled)
        except Exception:
            _log.exception("scheduler.hook_failed", job_id=job_id)


def run_forever(
    scheduler: LockedScheduler,
    *,
    signals: Iterable[signal.Signals] = (signal.SIGTERM, signal.SIGINT),
) -> None:
    """Run ``scheduler`` until SIGTERM or SIGINT, then shut it down cleanly and return.

    Call from the main thread (Python only installs signal handlers there). Works for both modes.
    On the first signal, running jobs are allowed to finish, the locks are released (another replica
    takes over on its next tick) and the connection is closed; further signals are ignored. The
    previous signal handlers are restored before returning.
    """
    started = threading.Event()
    stopping = threading.Event()
    done = threading.Event()

    def stop() -> None:
        started.wait()  # a shutdown before the scheduler runs would be a no-op
        try:
            scheduler.shutdown(wait=True)
        finally:
            done.set()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():
            return
        stopping.set()
        _log.info("scheduler.signal", signal=signal.Signals(signum).name, scheduler=scheduler.name)
        # Shut down from a thread: the handler runs in the main thread, which a BlockingScheduler
        # occupies with its loop (and may interrupt it anywhere).
        threading.Thread(target=stop, name=f"{scheduler.name}-shutdown", daemon=True).start()

    def on_started(_event: Any) -> None:
        started.set()

    scheduler.apscheduler.add_listener(on_started, EVENT_SCHEDULER_STARTED)
    previous = {sig: signal.signal(sig, on_signal) for sig in signals}
    try:
        if not stopping.is_set():
            _log.info("scheduler.starting", scheduler=scheduler.name)
            scheduler.start()  # blocking mode returns once the shutdown thread stopped it
            while not done.wait(0.5):
                pass
    finally:
        started.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        scheduler.apscheduler.remove_listener(on_started)
        if not stopping.is_set():
            scheduler.shutdown(wait=True)  # start() raised
        else:
            done.wait()
