"""The Celery app of the worker (and of the scheduler, which publishes through it); broker: Redis."""

from __future__ import annotations

from typing import Any

from celery import Celery  # type: ignore[import-untyped]
from celery.signals import worker_process_init  # type: ignore[import-untyped]

from alvin_python_lib.tasks import create_celery_app
from user_service.app.bootstrap import Container
from user_service.tasks import attach_deps

TASK_MODULES = ["user_service.tasks.email"]


def create_worker_app(container: Container, **overrides: Any) -> Celery:
    """The Celery app; its tasks (the shared tasks of ``user_service.tasks``) use ``container``'s
    objects. ``overrides`` are Celery settings (``result_backend=...`` in tests)."""
    settings, database = container.settings, container.deps.database
    app = create_celery_app(
        "user-service",
        broker_url=settings.redis_url,
        database=database,
        include=TASK_MODULES,
        **{"visibility_timeout": settings.task_visibility_timeout_s, **overrides},
    )
    attach_deps(app, container.deps)
    for module in TASK_MODULES:  # register the shared tasks with this app now
        __import__(module)

    def fresh_pool_after_fork(**_: Any) -> None:
        # A prefork child must not reuse the parent's pooled connections.
        database.engine.dispose(close=False)

    worker_process_init.connect(fresh_pool_after_fork, weak=False)
    return app
