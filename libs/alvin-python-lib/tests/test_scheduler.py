"""LockedScheduler against a real PostgreSQL: one replica runs each tick, another takes over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("apscheduler")

from prometheus_client import REGISTRY
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from alvin_python_lib.logging import request_id_var
from alvin_python_lib.scheduler import (
    SCHEDULER_LOCK_NAMESPACE,
    LockedScheduler,
    current_run_time,
    lock_key,
)

INTERVAL = 0.2
PROC = Path(__file__).with_name("_scheduler_proc.py")


def wait_until(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    """Poll ``predicate`` until it holds; fail with ``message`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for: {message}")
        time.sleep(0.02)


def tick_of(when: datetime | None) -> int:
    assert when is not None
    return round(when.timestamp() / INTERVAL)


class Replica:
    """A background LockedScheduler with one interval job that records the ticks it runs."""

    def __init__(self, engine: Engine, name: str, *, job: Callable[[], None] | None = None) -> None:
        self.runs: list[int] = []
        self.skips: list[int] = []
        self.run_times: list[float] = []
        self.scheduler = LockedScheduler(
            engine,
            name=name,
            background=True,
            on_skip=lambda _job_id, scheduled: self.skips.append(tick_of(scheduled)),
        )
        self.scheduler.add_job(job or self._job, "interval", id="tick", seconds=INTERVAL)

    def _job(self) -> None:
        self.runs.append(tick_of(current_run_time()))
        self.run_times.append(time.monotonic())

    def start(self) -> Replica:
        self.scheduler.start()
        return self

    def stop(self) -> None:
        self.scheduler.shutdown(wait=True)


@pytest.fixture
def make_engine(database_url: str) -> Iterator[Callable[[], Engine]]:
    """Engines of their own (one per replica), disposed after the test."""
    engines: list[Engine] = []

    def make() -> Engine:
        engine = create_engine(database_url, poolclass=NullPool)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture
def replicas(make_engine: Callable[[], Engine]) -> Iterator[Callable[..., Replica]]:
    """Build replicas of one scheduler (same name, unique per test); all shut down at the end."""
    name = f"test-{uuid.uuid4().hex[:8]}"
    made: list[Replica] = []

    def make(**kwargs: Any) -> Replica:
        replica = Replica(make_engine(), name, **kwargs)
        made.append(replica)
        return replica

    yield make
    for replica in made:
        replica.stop()


def lock_holders(engine: Engine, name: str, job_id: str = "tick") -> list[int]:
    """Backend pids holding the scheduler lock of ``job_id``."""
    k1, k2 = lock_key(name, job_id)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND objsubid = 2 AND classid::bigint = :c AND objid::bigint = :o"
            ),
            {"c": k1 & 0xFFFFFFFF, "o": k2 & 0xFFFFFFFF},
        ).all()
    return [row[0] for row in rows]


def test_lock_key_is_stable_and_namespaced() -> None:
    assert lock_key("svc", "cleanup") == lock_key("svc", "cleanup")
    assert lock_key("svc", "cleanup") != lock_key("other", "cleanup")
    namespace, key = lock_key("svc", "cleanup")
    assert namespace == SCHEDULER_LOCK_NAMESPACE
    assert -(2**31) <= key < 2**31
    assert lock_key("svc", "x", namespace=0xFFFFFFFF)[0] == -1


def test_add_job_refuses_duplicate_ids(make_engine: Callable[[], Engine]) -> None:
    scheduler = LockedScheduler(make_engine(), background=True)
    scheduler.add_job(lambda: None, "interval", id="a", seconds=1)
    with pytest.raises(ValueError, match="already scheduled"):
        scheduler.add_job(lambda: None, "interval", id="a", seconds=1)
    scheduler.shutdown()  # never started: still fine


def test_add_job_refuses_colliding_lock_keys(make_engine: Callable[[], Engine]) -> None:
    # Two ids whose "svc:<id>" share a crc32 (found by a birthday search over random ids).
    first, second = "job-a02552f76dbdf5fd", "job-670009b22c087272"
    assert lock_key("svc", first) == lock_key("svc", second)
    scheduler = LockedScheduler(make_engine(), name="svc", background=True)
    scheduler.add_job(lambda: None, "interval", id=first, seconds=1)
    with pytest.raises(ValueError, match="same lock key"):
        scheduler.add_job(lambda: None, "interval", id=second, seconds=1)
    scheduler.shutdown()


def test_one_replica_runs_each_tick(replicas: Callable[..., Replica]) -> None:
    first, second = replicas(), replicas()
    first.start()
    second.start()
    wait_until(
        lambda: (
            len(first.runs) + len(second.runs) >= 10 and len(first.skips) + len(second.skips) >= 5
        ),
        timeout=20,
        message="10 runs and 5 skips",
    )
    leader, follower = (first, second) if first.runs else (second, first)
    follower.stop()  # first: stopping the leader first would hand the job over
    leader.stop()

    assert follower.runs == []
    assert len(leader.runs) >= 10
    assert leader.skips == []
    assert len(leader.runs) == len(set(leader.runs)), "a tick ran twice"
    assert len(follower.skips) > 0
    stats = follower.scheduler.stats["tick"]
    assert stats.runs == 0
    assert stats.skipped_not_leader == len(follower.skips)
    assert leader.scheduler.stats["tick"].runs == len(leader.runs)
    # Ticks are aligned across replicas: the follower skipped ticks that the leader ran.
    assert set(follower.skips) & set(leader.runs)
    # The same counts as Prometheus series (both replicas share this process's registry).
    name = leader.scheduler.name

    def runs(outcome: str) -> float:
        labels = {"scheduler": name, "job": "tick", "outcome": outcome}
        return REGISTRY.get_sample_value("scheduler_job_runs_total", labels) or 0.0

    assert runs("ok") == len(leader.runs)
    assert runs("skipped") == len(follower.skips)
    assert runs("error") == 0
    duration = {"scheduler": name, "job": "tick"}
    assert REGISTRY.get_sample_value("scheduler_job_duration_seconds_count", duration) == len(
        leader.runs
    )


def wait_for_settled_tick(leader: Replica, follower: Replica) -> None:
    """Wait until both replicas are done with the same tick (the leader ran it, the other skipped).

    Hand-over is exact only between ticks (see the module docs of alvin_python_lib.scheduler):
    tests that kill or stop the leader do it right after a settled tick.
    """
    wait_until(
        lambda: bool(leader.runs) and leader.runs[-1] in follower.skips,
        timeout=10,
        message="a tick run by the leader and skipped by the follower",
    )


def test_other_replica_takes_over_after_shutdown(replicas: Callable[..., Replica]) -> None:
    first = replicas().start()
    wait_until(lambda: len(first.runs) >= 2, timeout=10, message="first replica runs")
    second = replicas().start()
    wait_until(lambda: len(second.skips) >= 2, timeout=10, message="second replica skips")
    assert second.runs == []

    wait_for_settled_tick(first, second)
    first.stop()
    stopped_at = time.monotonic()
    last_tick = first.runs[-1]
    wait_until(lambda: len(second.runs) >= 3, timeout=10, message="second replica takes over")

    assert second.runs[0] > last_tick
    assert len(set(first.runs) | set(second.runs)) == len(first.runs) + len(second.runs)
    # Within about one tick (generous for a loaded machine).
    assert second.run_times[0] - stopped_at < 10 * INTERVAL
    assert second.scheduler.is_leader("tick")


def test_dropped_lock_connection_never_makes_two_runners(
    replicas: Callable[..., Replica], db_engine: Engine
) -> None:
    first = replicas().start()
    wait_until(lambda: len(first.runs) >= 2, timeout=10, message="first replica runs")
    second = replicas().start()
    wait_until(lambda: len(second.skips) >= 2, timeout=10, message="second replica skips")
    name = first.scheduler.name
    (holder,) = lock_holders(db_engine, name)

    wait_for_settled_tick(first, second)
    with db_engine.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": holder}).scalar()
    runs_before = len(first.runs) + len(second.runs)
    wait_until(
        lambda: len(first.runs) + len(second.runs) >= runs_before + 8,
        timeout=15,
        message="ticks keep running after the lock connection was killed",
    )
    first.stop()
    second.stop()

    ticks = first.runs + second.runs
    assert len(ticks) == len(set(ticks)), "a tick ran on both replicas"
    # After the hand-over (if any) only one replica runs: the runs do not interleave.
    if first.runs and second.runs:
        assert max(first.runs) < min(second.runs)


def test_each_run_has_request_id_and_removes_session(
    replicas: Callable[..., Replica], database_url: str
) -> None:
    from alvin_python_lib.db import Database

    database = Database(database_url)
    seen: list[tuple[bool, str | None, int]] = []
    lock = threading.Lock()

    def job() -> None:
        with lock:
            had_session = database.session.registry.has()
            database.session.execute(text("SELECT 1"))
            seen.append((had_session, request_id_var.get(), tick_of(current_run_time())))
        raise RuntimeError("job failed")

    engine = create_engine(database_url, poolclass=NullPool)
    scheduler = LockedScheduler(
        engine,
        name=f"test-{uuid.uuid4().hex[:8]}",
        background=True,
        database=database,
        max_workers=1,  # one thread: a leftover session would be seen by the next run
    )
    scheduler.add_job(job, "interval", id="tick", seconds=INTERVAL)
    scheduler.start()
    try:
        wait_until(lambda: scheduler.stats["tick"].errors >= 3, timeout=10, message="3 runs")
    finally:
        scheduler.shutdown()
        database.dispose()
        engine.dispose()

    assert len(seen) >= 3
    assert [had for had, _, _ in seen] == [False] * len(seen)
    request_ids = [rid for _, rid, _ in seen]
    assert None not in request_ids
    assert len(set(request_ids)) == len(request_ids), "each run binds a fresh request id"
    stats = scheduler.stats["tick"]
    assert stats.runs == stats.errors == len(seen)
    assert stats.last_run_time is not None
    assert tick_of(stats.last_run_time) == seen[-1][2]


def test_shutdown_releases_the_lock(replicas: Callable[..., Replica], db_engine: Engine) -> None:
    replica = replicas().start()
    wait_until(lambda: len(replica.runs) >= 1, timeout=10, message="a run")
    name = replica.scheduler.name
    assert len(lock_holders(db_engine, name)) == 1
    replica.stop()
    assert lock_holders(db_engine, name) == []
    assert not replica.scheduler.running


# -- two OS processes ------------------------------------------------------------------------------


def _start_proc(url: str, table: str, name: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, str(PROC), url, table, name, str(INTERVAL)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )


@pytest.mark.timeout(60)
def test_process_takes_over_after_sigkill(
    database_url: str, db_engine: Engine, tmp_path: Path
) -> None:
    table = f"sched_runs_{uuid.uuid4().hex[:8]}"
    name = f"proc-{uuid.uuid4().hex[:8]}"
    with db_engine.begin() as conn:
        conn.execute(text(f"CREATE TABLE {table} (pid int, kind text, tick bigint)"))

    def rows(kind: str) -> list[tuple[int, int]]:
        with db_engine.connect() as conn:
            result = conn.execute(
                text(f"SELECT pid, tick FROM {table} WHERE kind = :k ORDER BY tick"), {"k": kind}
            )
            return [(row[0], row[1]) for row in result]

    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [_start_proc(database_url, table, name, log) for log in logs]

    def output() -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()}" for log in logs)

    try:
        wait_until(lambda: len(rows("start")) == 2, timeout=20, message="both processes started")
        wait_until(
            lambda: len(rows("run")) >= 3 and len(rows("skip")) >= 2,
            timeout=15,
            message="one process runs, the other skips",
        )
        runners = {pid for pid, _ in rows("run")}
        assert len(runners) == 1, output()
        (holder_pid,) = runners
        holder = next(p for p in procs if p.pid == holder_pid)
        survivor = next(p for p in procs if p.pid != holder_pid)

        def settled() -> bool:
            # The last tick the holder ran has been skipped by the survivor: kill between ticks.
            last = max(tick for pid, tick in rows("run") if pid == holder_pid)
            return (survivor.pid, last) in rows("skip")

        wait_until(settled, timeout=10, message="a tick run by one process, skipped by the other")
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        killed_at = time.time()
        wait_until(
            lambda: sum(pid == survivor.pid for pid, _ in rows("run")) >= 3,
            timeout=15,
            message="the surviving process takes over",
        )

        survivor.send_signal(signal.SIGTERM)
        assert survivor.wait(timeout=15) == 0, output()
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    runs = rows("run")
    ticks = [tick for _, tick in runs]
    assert len(ticks) == len(set(ticks)), f"a tick ran twice: {runs}"
    holder_ticks = [tick for pid, tick in runs if pid == holder_pid]
    survivor_ticks = [tick for pid, tick in runs if pid == survivor.pid]
    assert max(holder_ticks) < min(survivor_ticks)
    assert min(survivor_ticks) * INTERVAL - killed_at < 5, "took over within a few ticks"
    # SIGTERM went through run_forever: clean shutdown, lock released.
    assert lock_holders(db_engine, name) == []
