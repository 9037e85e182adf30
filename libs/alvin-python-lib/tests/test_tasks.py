"""create_celery_app with a real Redis broker and result backend and an embedded worker."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("celery")

import structlog
from celery.contrib.testing.worker import start_worker
from sqlalchemy import text

from alvin_python_lib.logging import bind_request_id, clear_request_id, request_id_var
from alvin_python_lib.tasks import (
    REQUEST_ID_HEADER,
    IdempotentTask,
    celery_broker_url,
    create_celery_app,
)

TIMEOUT = 20


@pytest.fixture(autouse=True)
def _no_request_id() -> Iterator[None]:
    clear_request_id()
    yield
    clear_request_id()


def make_app(redis_url: str, **kwargs: Any) -> Any:
    """An app on the test Redis, on a queue of its own.

    Its tasks are declared with ``shared=False``: shared tasks (Celery's default) would be added to
    every app finalized later, and the apps of different tests reuse task names.
    """
    return create_celery_app(
        f"test-{uuid.uuid4().hex[:8]}",
        broker_url=redis_url,
        result_backend=redis_url,
        task_default_queue=f"q-{uuid.uuid4().hex[:8]}",
        **kwargs,
    )


def worker(app: Any) -> Any:
    return start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30)


def test_celery_broker_url() -> None:
    assert celery_broker_url("unix:///tmp/r/redis.sock?db=3") == (
        "redis+socket:///tmp/r/redis.sock?virtual_host=3"
    )
    assert celery_broker_url("unix:///tmp/r/redis.sock") == "redis+socket:///tmp/r/redis.sock"
    assert celery_broker_url("redis://localhost:6379/1") == "redis://localhost:6379/1"
    assert celery_broker_url("redis+socket:///x.sock") == "redis+socket:///x.sock"


def test_configuration(redis_url: str) -> None:
    app = create_celery_app(
        "conf",
        broker_url=redis_url,
        result_backend=redis_url,
        visibility_timeout=120,
        broker_transport_options={"max_retries": 3},
        task_time_limit=60,
    )
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert list(conf.result_accept_content) == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.worker_cancel_long_running_tasks_on_connection_loss is True
    assert conf.broker_connection_retry_on_startup is True
    assert conf.broker_transport_options == {
        "visibility_timeout": 120,
        "unacked_restore_interval": 10.0,  # sweep for unacknowledged messages, scan every time
        "unacked_restore_throttle": 1,
        "max_retries": 3,
    }
    assert conf.task_track_started is True
    assert conf.timezone == "UTC"
    assert conf.task_time_limit == 60  # overrides are applied
    assert conf.broker_url == celery_broker_url(redis_url)
    assert issubclass(app.Task, IdempotentTask)
    assert create_celery_app("d", broker_url="memory://").conf.broker_transport_options == {
        "visibility_timeout": 3600,
        "unacked_restore_interval": 10.0,
        "unacked_restore_throttle": 1,
    }
    short = create_celery_app("e", broker_url="memory://", visibility_timeout=3)
    assert short.conf.broker_transport_options["unacked_restore_interval"] == 1.5


def test_published_message_is_json_with_request_id(redis_url: str, redis: Any) -> None:
    app = make_app(redis_url)
    queue = app.conf.task_default_queue

    @app.task(shared=False, name="t.echo")
    def echo(value: Any) -> Any:
        return value

    bind_request_id("req-abc")
    echo.delay({"k": [1, 2]})  # no worker: read the raw message from the Redis list
    raw = redis.lpop(queue)
    assert raw is not None
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["headers"][REQUEST_ID_HEADER] == "req-abc"
    assert message["headers"]["task"] == "t.echo"
    args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    assert args == [{"k": [1, 2]}]


def test_result_comes_back_through_redis(redis_url: str, redis: Any) -> None:
    app = make_app(redis_url)

    @app.task(shared=False, name="t.add")
    def add(a: int, b: int) -> int:
        return a + b

    with worker(app):
        result = add.delay(2, 3)
        assert result.get(timeout=TIMEOUT) == 5
        assert result.state == "SUCCESS"
    assert redis.exists(f"celery-task-meta-{result.id}")


def test_request_id_travels_to_the_worker(redis_url: str, redis: Any) -> None:
    app = make_app(redis_url)

    @app.task(shared=False, name="t.whoami")
    def whoami() -> list[Any]:
        return [request_id_var.get(), structlog.contextvars.get_contextvars().get("request_id")]

    @app.task(shared=False, name="t.fan_out", bind=True)
    def fan_out(self: Any) -> str:
        return str(whoami.delay().id)  # queued from inside a task

    with worker(app):
        bind_request_id("req-123")
        first = whoami.delay()
        nested = fan_out.delay()
        clear_request_id()
        assert first.get(timeout=TIMEOUT) == ["req-123", "req-123"]
        inner_id = nested.get(timeout=TIMEOUT)
        assert app.AsyncResult(inner_id).get(timeout=TIMEOUT) == ["req-123", "req-123"]

        # No request id at the publisher: the worker binds a fresh one per task.
        fresh = whoami.delay().get(timeout=TIMEOUT)
        again = whoami.delay().get(timeout=TIMEOUT)
    assert fresh[0] is not None
    assert fresh[0] == fresh[1]
    assert fresh[0] not in ("req-123", again[0])


def test_explicit_request_id_header_wins(redis_url: str, redis: Any) -> None:
    app = make_app(redis_url)

    @app.task(shared=False, name="t.whoami")
    def whoami() -> str | None:
        return request_id_var.get()

    with worker(app):
        bind_request_id("ambient")
        result = whoami.apply_async(headers={REQUEST_ID_HEADER: "explicit"})
        assert result.get(timeout=TIMEOUT) == "explicit"


def _session_probe_app(redis_url: str, database: Any, *, remove: bool) -> tuple[Any, Any, Any]:
    app = make_app(redis_url, database=database if remove else None)

    @app.task(shared=False, name="t.use_session_and_fail")
    def use_session_and_fail() -> None:
        database.session.execute(text("SELECT 1"))
        raise RuntimeError("task failed")

    @app.task(shared=False, name="t.has_session")
    def has_session() -> bool:
        # Runs on the same (solo) worker thread as the previous task.
        has = bool(database.session.registry.has())
        database.remove()  # leave no open connection behind in the worker thread
        return has

    return app, use_session_and_fail, has_session


@pytest.mark.parametrize("remove", [True, False], ids=["with-database", "without-database"])
def test_session_removed_after_failed_task(
    redis_url: str, redis: Any, database_url: str, remove: bool
) -> None:
    from alvin_python_lib.db import Database

    database = Database(database_url)
    app, use_session_and_fail, has_session = _session_probe_app(redis_url, database, remove=remove)
    try:
        with worker(app):
            failed = use_session_and_fail.delay()
            with pytest.raises(RuntimeError, match="task failed"):
                failed.get(timeout=TIMEOUT)
            leftover = has_session.delay().get(timeout=TIMEOUT)
    finally:
        database.dispose()
    # The control run (no database given to the app) shows the probe would see a leftover.
    assert leftover is (not remove)
    assert failed.state == "FAILURE"


def test_eager_mode_keeps_the_callers_context(database_url: str) -> None:
    from alvin_python_lib.db import Database

    database = Database(database_url)
    app = create_celery_app(
        "eager", broker_url="memory://", database=database, task_always_eager=True
    )

    @app.task(shared=False, name="t.whoami")
    def whoami() -> str | None:
        return request_id_var.get()

    try:
        database.session.execute(text("SELECT 1"))
        bind_request_id("caller")
        assert whoami.delay().get() == "caller"
        assert request_id_var.get() == "caller"
        assert database.session.registry.has(), "the caller's session was removed"
        clear_request_id()
        assert whoami.delay().get() is not None
        assert request_id_var.get() is None
    finally:
        database.dispose()


def test_idempotency_key_is_the_task_id(redis_url: str, redis: Any) -> None:
    app = make_app(redis_url)

    @app.task(shared=False, name="t.key", bind=True)
    def key(self: IdempotentTask) -> list[Any]:
        return [self.idempotency_key, self.acks_late, self.reject_on_worker_lost]

    with worker(app):
        result = key.delay()
        assert result.get(timeout=TIMEOUT) == [f"t.key:{result.id}", True, True]


def test_receivers_ignore_other_apps(redis_url: str, redis: Any, database_url: str) -> None:
    from alvin_python_lib.db import Database

    database = Database(database_url)
    other = create_celery_app("other", broker_url=redis_url, database=database)
    app, use_session_and_fail, has_session = _session_probe_app(redis_url, database, remove=False)
    try:
        with worker(app):
            with pytest.raises(RuntimeError):
                use_session_and_fail.delay().get(timeout=TIMEOUT)
            assert has_session.delay().get(timeout=TIMEOUT) is True
    finally:
        database.dispose()
    assert other.main == "other"  # alive until here: its receivers were connected and idle


def test_shared_tasks_published_from_other_threads_use_the_factory_app(redis_url: str) -> None:
    import threading

    from celery import shared_task

    from alvin_python_lib.tasks import create_celery_app

    @shared_task(name="tests.thread_published")
    def thread_published() -> None:
        """Never runs: only published."""

    app = create_celery_app("thread-test", broker_url=redis_url)
    seen: list[str] = []
    thread = threading.Thread(target=lambda: seen.append(thread_published.app.conf.broker_url))
    thread.start()
    thread.join()
    assert seen == [app.conf.broker_url]
    app.close()


def test_task_runs_are_counted_timed_and_logged(redis_url: str, redis: Any) -> None:
    from prometheus_client import REGISTRY

    from alvin_python_lib.logging import configure_logging

    app = make_app(redis_url)
    name_ok, name_bad = f"t.ok.{uuid.uuid4().hex[:6]}", f"t.bad.{uuid.uuid4().hex[:6]}"

    @app.task(shared=False, name=name_ok)
    def ok() -> int:
        return 1

    @app.task(shared=False, name=name_bad)
    def bad() -> None:
        raise ValueError("boom")

    def sample(metric: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(metric, labels) or 0.0

    stream = io.StringIO()
    with worker(app):
        configure_logging(fmt="json", stream=stream)  # after the worker set its log level up
        assert ok.delay().get(timeout=TIMEOUT) == 1
        assert ok.delay().get(timeout=TIMEOUT) == 1
        with pytest.raises(ValueError, match="boom"):
            bad.delay().get(timeout=TIMEOUT)
    assert sample("celery_tasks_total", task=name_ok, state="SUCCESS") == 2
    assert sample("celery_tasks_total", task=name_bad, state="FAILURE") == 1
    assert sample("celery_task_duration_seconds_count", task=name_ok) == 2
    done = [
        json.loads(line)
        for line in stream.getvalue().splitlines()
        if line.startswith("{") and '"task.done"' in line
    ]
    by_task = {(line["task"], line["state"]) for line in done}
    assert {(name_ok, "SUCCESS"), (name_bad, "FAILURE")} <= by_task
    assert all(line["duration_ms"] >= 0 and line["request_id"] for line in done)
