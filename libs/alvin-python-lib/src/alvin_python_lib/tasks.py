"""Celery app factory with the kit's defaults: JSON only, late acks, request ids, session cleanup.

:func:`create_celery_app` returns a configured :class:`celery.Celery`:

* **JSON only** (``task_serializer``, ``result_serializer``, ``accept_content`` and
  ``result_accept_content``): a worker never unpickles data from the broker.
* **At-least-once delivery**: ``task_acks_late=True`` and ``task_reject_on_worker_lost=True``
  acknowledge a message only after its task has finished, so a worker that dies mid-task gives the
  message back to the broker and another worker runs it again; ``worker_prefetch_multiplier=1``
  keeps a busy worker from hoarding messages; when the broker connection is lost, the tasks still
  running are cancelled (their messages come back anyway). With the Redis broker a message that is
  not acknowledged within ``visibility_timeout`` seconds (default one hour) is delivered again
  (kombu's restore sweep is tuned to run every ``min(10 s, visibility_timeout / 2)``), even
  if its first run is still going: keep tasks shorter than that, and keep countdowns and ETAs
  shorter than that too. **Every task must therefore be idempotent** (see :class:`IdempotentTask`).
* **Request ids travel with the message**: a ``before_task_publish`` receiver copies the publisher's
  request id (:data:`alvin_python_lib.logging.request_id_var`) into the message header
  ``request_id``; in the worker a ``task_prerun`` receiver binds it again (or a new one when the
  message had none), so every log line of the task carries the id of the request that queued it.
  Tasks queued from inside a task inherit the same id.
* **One database session per task**: a ``task_postrun`` receiver calls ``database.remove()`` after
  every task, also when the task raised, and forgets the request id.
* **A log line and metrics per task run**: ``task.done`` (task, task_id, state, duration_ms) and the
  Prometheus series ``celery_tasks_total{task,state}`` (``SUCCESS``, ``FAILURE``, ``RETRY`` ...) and
  ``celery_task_duration_seconds{task}`` (histogram); task names are the only label values.

Signals: ``task_prerun`` and ``task_postrun`` are connected per app (each receiver ignores tasks of
other apps and lives as long as its app). ``before_task_publish`` carries no app (its sender is the
task *name*, and a task may be sent by name to a worker whose code this process does not have), so
that one receiver is connected once per process; it only copies the current request id into a
header that is not already set, which is right for every app.

Eager mode (``task_always_eager``, tests): the task runs in the caller's thread, so the receivers
keep the caller's request id, restore it afterwards and do **not** remove the caller's database
session.

Redis over a unix socket: redis-py spells it ``unix:///path/redis.sock?db=0``, kombu and Celery's
result backend ``redis+socket:///path/redis.sock?virtual_host=0``. :func:`create_celery_app`
converts the first form to the second (see :func:`celery_broker_url`), so one setting serves both.

Install with the ``tasks`` extra: ``pip install alvin-python-lib[tasks]``.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import structlog
from celery import Celery, Task  # type: ignore[import-untyped]
from celery.signals import (  # type: ignore[import-untyped]
    before_task_publish,
    task_postrun,
    task_prerun,
)
from prometheus_client import Counter, Histogram

from alvin_python_lib.db.database import SupportsRemove
from alvin_python_lib.logging import bind_request_id, clear_request_id, get_logger, request_id_var

__all__ = [
    "DEFAULT_VISIBILITY_TIMEOUT",
    "REQUEST_ID_HEADER",
    "IdempotentTask",
    "celery_broker_url",
    "create_celery_app",
]

#: The message header that carries the request id (also readable as ``task.request.request_id``).
REQUEST_ID_HEADER = "request_id"

#: Seconds before the Redis broker redelivers a message that was not acknowledged (one hour).
DEFAULT_VISIBILITY_TIMEOUT = 3600

_PUBLISH_RECEIVER_UID = "alvin_python_lib.tasks.request_id_header"

# Request ids that were bound before each running task (a stack: eager tasks may nest).
_previous_request_ids: ContextVar[tuple[str | None, ...]] = ContextVar(
    "alvin_task_previous_request_ids", default=()
)
# perf_counter() at the start of each running task (same stack discipline).
_started: ContextVar[tuple[float, ...]] = ContextVar("alvin_task_started", default=())

TASKS_TOTAL = Counter(
    "celery_tasks", "Celery task runs that ended, by final state.", ["task", "state"]
)
TASK_DURATION = Histogram(
    "celery_task_duration_seconds",
    "Run time of Celery tasks (seconds).",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
_log = get_logger("alvin_python_lib.tasks")


class IdempotentTask(Task):  # type: ignore[misc]  # celery ships no type information
    """Base class of the kit's tasks (the default ``task_cls`` of :func:`create_celery_app`).

    Delivery is **at least once**: with late acknowledgement a task runs again when its worker dies
    before finishing it, when the broker's visibility timeout expires, or when the task is retried.
    Write every task so that running it twice with the same arguments has the effect of running it
    once, for example:

    * pass ids, not objects, and re-read the current state from the database;
    * make writes conditional (``INSERT ... ON CONFLICT DO NOTHING``, ``UPDATE ... WHERE status =
      'pending'``) or record :attr:`idempotency_key` in a table with a unique constraint in the same
      transaction as the work;
    * for side effects outside the database (emails, payments), send the key to the vendor as its
      idempotency key, or record "sent" before acknowledging and accept a rare duplicate.

    The task id is stable across redeliveries of one message, so :attr:`idempotency_key` (task name
    plus task id) identifies one logical execution.
    """

    acks_late = True
    reject_on_worker_lost = True
    typing = True

    @property
    def idempotency_key(self) -> str:
        """``"<task name>:<task id>"`` of the running task: the same on every redelivery."""
        return f"{self.name}:{self.request.id}"


def celery_broker_url(redis_url: str) -> str:
    """Translate a redis-py URL into the form kombu and Celery's result backend accept.

    ``unix:///path/redis.sock?db=2`` becomes ``redis+socket:///path/redis.sock?virtual_host=2``;
    every other URL (``redis://``, ``rediss://``, ``redis+socket://``, other brokers) is returned
    unchanged.
    """
    parts = urlsplit(redis_url)
    if parts.scheme != "unix":
        return redis_url
    query = [
        ("virtual_host" if key == "db" else key, value) for key, value in parse_qsl(parts.query)
    ]
    url = f"redis+socket://{parts.netloc}{parts.path}"
    return f"{url}?{urlencode(query)}" if query else url


def create_celery_app(
    name: str,
    *,
    broker_url: str,
    result_backend: str | None = None,
    database: SupportsRemove | None = None,
    visibility_timeout: float = DEFAULT_VISIBILITY_TIMEOUT,
    task_cls: Any = IdempotentTask,
    **overrides: Any,
) -> Celery:
    """Create a Celery app with the kit's configuration (see the module docstring).

    ``broker_url`` and ``result_backend`` may be redis-py unix-socket URLs (converted by
    :func:`celery_broker_url`). ``database`` (a :class:`~alvin_python_lib.db.Database`) has its
    session removed after every task. ``overrides`` are Celery settings (lower-case names) applied
    last; ``broker_transport_options`` given there is merged with the visibility timeout.
    """
    app = Celery(name, task_cls=task_cls)
    # Celery makes a new app current only in the creating thread; threads started elsewhere
    # (scheduler jobs, gRPC handlers) would publish shared tasks through Celery's fallback app
    # (amqp on localhost). One app per process is the norm: make it the default everywhere.
    app.set_default()
    transport_options: dict[str, Any] = {
        "visibility_timeout": visibility_timeout,
        # kombu looks for messages past their visibility timeout every 10 s but scans only every
        # 10th time (about every 100 s): scan every sweep, and sweep at least twice per timeout,
        # so that a task whose worker died is delivered again within about the timeout.
        "unacked_restore_interval": min(10.0, max(0.5, visibility_timeout / 2)),
        "unacked_restore_throttle": 1,
    }
    transport_options.update(overrides.pop("broker_transport_options", None) or {})
    config: dict[str, Any] = {
        "broker_url": celery_broker_url(broker_url),
        "result_backend": celery_broker_url(result_backend) if result_backend else None,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "result_accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        # After a lost broker connection the unacknowledged messages are redelivered anyway:
        # stop their running copies instead of letting two run at once (Celery 6's default).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": transport_options,
        "task_track_started": True,
        "timezone": "UTC",
        "enable_utc": True,
        # The kit configures logging itself (alvin_python_lib.logging.configure_logging).
        "worker_hijack_root_logger": False,
    }
    config.update(overrides)
    app.conf.update(config)
    _connect_signals(app, database)
    return app


def _connect_signals(app: Celery, database: SupportsRemove | None) -> None:
    before_task_publish.connect(
        _add_request_id_header, weak=False, dispatch_uid=_PUBLISH_RECEIVER_UID
    )

    def on_prerun(sender: Any = None, task: Any = None, **_: Any) -> None:
        task = task if task is not None else sender
        if getattr(task, "app", None) is not app:
            return
        request = task.request
        previous = request_id_var.get()
        _previous_request_ids.set((*_previous_request_ids.get(), previous))
        request_id = request.get(REQUEST_ID_HEADER) or (request.headers or {}).get(
            REQUEST_ID_HEADER
        )
        if not request_id and request.is_eager:
            request_id = previous
        bind_request_id(request_id)
        _started.set((*_started.get(), time.perf_counter()))

    def on_postrun(sender: Any = None, task: Any = None, **kwargs: Any) -> None:
        task = task if task is not None else sender
        if getattr(task, "app", None) is not app:
            return
        eager = bool(task.request.is_eager)
        _observe(task, kwargs.get("state"))
        stack = _previous_request_ids.get()
        previous = stack[-1] if stack else None
        _previous_request_ids.set(stack[:-1])
        try:
            # In eager mode the session belongs to the caller, who is still using it.
            if database is not None and not eager:
                database.remove()
        finally:
            if not eager:
                clear_request_id()
            elif previous is not None:
                bind_request_id(previous)
            else:
                request_id_var.set(None)
                structlog.contextvars.unbind_contextvars("request_id")

    # Weak receivers kept alive by the app: they go away with it instead of piling up.
    app._alvin_signal_receivers = (on_prerun, on_postrun)
    task_prerun.connect(on_prerun, weak=True)
    task_postrun.connect(on_postrun, weak=True)


def _observe(task: Any, state: str | None) -> None:
    stack = _started.get()
    if not stack:
        return
    _started.set(stack[:-1])
    duration = time.perf_counter() - stack[-1]
    state = state or "UNKNOWN"
    TASKS_TOTAL.labels(task.name, state).inc()
    TASK_DURATION.labels(task.name).observe(duration)
    log = _log.info if state in ("SUCCESS", "RETRY") else _log.warning
    log(
        "task.done",
        task=task.name,
        task_id=task.request.id,
        state=state,
        duration_ms=round(duration * 1000, 3),
    )


def _add_request_id_header(headers: dict[str, Any] | None = None, **_: Any) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None and not headers.get(REQUEST_ID_HEADER):
        headers[REQUEST_ID_HEADER] = request_id
