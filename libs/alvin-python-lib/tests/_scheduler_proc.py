"""One scheduler replica in its own OS process, for ``test_scheduler.py``.

Usage: ``python _scheduler_proc.py URL TABLE NAME INTERVAL``. Runs a ``LockedScheduler`` in blocking
mode under ``run_forever`` with one interval job, and records into ``TABLE`` (columns ``pid``,
``kind``, ``tick``) a ``start`` row once started, a ``run`` row per tick it runs and a ``skip`` row
per tick it leaves to another replica. ``tick`` is the scheduled time divided by the interval.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from alvin_python_lib.scheduler import LockedScheduler, current_run_time, run_forever


def main(url: str, table: str, name: str, interval: float) -> None:
    engine = create_engine(url, poolclass=NullPool)
    pid = os.getpid()
    insert = text(f"INSERT INTO {table} (pid, kind, tick) VALUES (:pid, :kind, :tick)")

    def record(kind: str, when: datetime | None) -> None:
        tick = round((when or datetime.now(timezone.utc)).timestamp() / interval)
        with engine.begin() as conn:
            conn.execute(insert, {"pid": pid, "kind": kind, "tick": tick})

    def job() -> None:
        record("run", current_run_time())

    scheduler = LockedScheduler(
        engine, name=name, on_skip=lambda _job_id, scheduled: record("skip", scheduled)
    )
    scheduler.add_job(job, "interval", id="tick", seconds=interval, misfire_grace_time=5)
    record("start", None)
    run_forever(scheduler)
    engine.dispose()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
