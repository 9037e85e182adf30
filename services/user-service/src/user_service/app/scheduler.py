"""The scheduler process's jobs: outbox relay and session purge."""

from __future__ import annotations

from alvin_python_lib.scheduler import LockedScheduler
from user_service.app.bootstrap import Container
from user_service.service.auth import purge_expired_sessions
from user_service.tasks.outbox import relay_pending


def create_scheduler(container: Container, *, background: bool = False) -> LockedScheduler:
    """A scheduler with the service's periodic jobs; replicas run each job once per tick.

    The relay publishes through the process's Celery app: build it first
    (``app.worker.create_worker_app``).
    """
    settings, deps = container.settings, container.deps
    scheduler = LockedScheduler(
        deps.database.engine,
        name=settings.service_name,
        background=background,
        database=deps.database,
    )
    scheduler.add_job(
        relay_pending,
        "interval",
        id="relay-outbox",
        kwargs={"deps": deps, "batch_size": settings.outbox_batch_size},
        seconds=settings.outbox_relay_seconds,
    )
    scheduler.add_job(
        purge_expired_sessions,
        "interval",
        id="purge-expired-sessions",
        kwargs={"deps": deps},
        seconds=settings.session_purge_seconds,
    )
    return scheduler
