"""The Celery app of the user-service (broker: Redis)."""

from __future__ import annotations

from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]

from alvin_python_lib.tasks import create_celery_app
from user_service.app.settings import Settings
from user_service.db import database

TASK_MODULES = ["user_service.tasks.email"]


def create_app(settings: Settings, **overrides: Any) -> Celery:
    """The Celery app; tasks are the shared tasks of ``user_service.tasks``."""
    app = create_celery_app(
        "user-service",
        broker_url=settings.redis_url,
        database=database,
        include=TASK_MODULES,
        **{"visibility_timeout": settings.task_visibility_timeout_s, **overrides},
    )
    for module in TASK_MODULES:  # register the shared tasks with this app now
        __import__(module)
    return app


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_pool_after_fork(**_: Any) -> None:
    # A prefork child must not reuse the parent's pooled connections.
    if database.is_configured:
        database.engine.dispose(close=False)
