"""The scheduler process's jobs: outbox relay and session purge."""

from __future__ import annotations

from alvin_python_lib.scheduler import LockedScheduler
from user_service.app.settings import Settings
from user_service.db import database
from user_service.service.auth import purge_expired_sessions
from user_service.tasks.outbox import relay_pending


def create_scheduler(settings: Settings, *, background: bool = False) -> LockedScheduler:
    """A scheduler with the service's periodic jobs; replicas run each job once per tick."""
    scheduler = LockedScheduler(
        database.engine, name=settings.service_name, background=background, database=database
    )
    scheduler.add_job(
        relay_pending,
        "interval",
        id="relay-outbox",
        kwargs={"batch_size": settings.outbox_batch_size},
        seconds=settings.outbox_relay_seconds,
    )
    scheduler.add_job(
        purge_expired_sessions,
        "interval",
        id="purge-expired-sessions",
        seconds=settings.session_purge_seconds,
    )
    return scheduler
