"""Celery tasks (thin: they call ``user_service.service``).

A task reaches the service's objects through the Celery app that runs it: the composition root
(``user_service.app.worker``) attaches the :class:`~user_service.service.deps.Deps` it built with
:func:`attach_deps`, and the task reads them back with :func:`deps_of` (no module global).
"""

from __future__ import annotations

from typing import Any

from user_service.service.deps import Deps

_ATTRIBUTE = "user_service_deps"


def attach_deps(app: Any, deps: Deps) -> None:
    """Give the tasks run by Celery ``app`` these objects."""
    setattr(app, _ATTRIBUTE, deps)


def deps_of(app: Any) -> Deps:
    """The objects attached to Celery ``app`` (``RuntimeError`` when it was built elsewhere)."""
    deps = getattr(app, _ATTRIBUTE, None)
    if not isinstance(deps, Deps):
        raise RuntimeError(
            "this Celery app has no user-service objects: build it with "
            "user_service.app.worker.create_worker_app(container)"
        )
    return deps
