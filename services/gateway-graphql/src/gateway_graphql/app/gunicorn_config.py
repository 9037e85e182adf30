r"""gunicorn's configuration, from the gateway's settings (``gateway serve`` uses it).

    gunicorn -c python:gateway_graphql.app.gunicorn_config \
        "gateway_graphql.app.wsgi:create_wsgi_app()"

Threaded workers (``gthread``): requests wait on the user-service over gRPC, so threads give
concurrency cheaply. The app is created in each worker after the fork (no ``preload_app``):
gRPC channels must not cross a fork. gunicorn's own log lines go through the app's logging (JSON
in staging/production); the access log is the app's ``http.access`` line, with the request id.

gunicorn reads a configuration file's module-level names, so this module loads the settings when
gunicorn imports it, in the master; the app does not use this module: each worker builds its
own after the fork (``app.wsgi``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from gunicorn.glogging import Logger  # type: ignore[import-untyped]

from alvin_python_lib.logging import configure_logging
from alvin_python_lib.process import freeze_startup_objects
from gateway_graphql.app.settings import get_settings

_settings = get_settings()

# Metrics (GATEWAY_METRICS_PORT): every worker writes its series to PROMETHEUS_MULTIPROC_DIR and the
# master serves their sum. The variable must be set before any process imports prometheus_client:
# here, in the master, before the workers are forked (nothing imported so far needs it).
_own_multiproc_dir: str | None = None
if _settings.metrics_port is not None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _own_multiproc_dir = tempfile.mkdtemp(prefix="gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _own_multiproc_dir

bind = [f"{_settings.host}:{_settings.port}"]
workers = _settings.workers
worker_class = "gthread"
threads = _settings.threads
timeout = int(_settings.timeout_s)
graceful_timeout = int(_settings.graceful_timeout_s)
keepalive = int(_settings.keepalive_s)
preload_app = False
proc_name = _settings.service_name
# Request line and headers: gunicorn's defaults, stated (the body limit is the app's).
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = None  # the app logs one `http.access` line per request


class AppAccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger without its access log: the app logs its own ``http.access`` line.

    With ``logconfig_dict`` set, gunicorn's logger would build the access line's atoms for every
    request and then drop the line at the ``gunicorn.access`` level.
    """

    access_log_enabled = False

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        """Nothing: see the class docstring."""


logger_class = AppAccessLogger
errorlog = "-"
loglevel = _settings.log_level.lower()
control_socket_disable = True
# gunicorn's loggers propagate to the root logger, which configure_logging() formats.
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": _settings.log_level.upper(), "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": _settings.log_level.upper(), "handlers": [], "propagate": True},
        "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": True},
    },
    "handlers": {},
    "formatters": {},
}


def when_ready(server: Any) -> None:
    """In the master, once listening: serve the workers' summed metrics on GATEWAY_METRICS_PORT."""
    if _settings.metrics_port is None:
        return
    from prometheus_client import CollectorRegistry, multiprocess  # noqa: PLC0415

    from alvin_python_lib.metrics import start_metrics_server  # noqa: PLC0415

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    metrics = start_metrics_server(_settings.metrics_port, registry)
    server.log.info("metrics on port %s (%s workers)", metrics.port, workers)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: drop its live gauges from the sums."""
    if _settings.metrics_port is not None:
        from prometheus_client import multiprocess  # noqa: PLC0415

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    """In the master, at the end: remove the metrics folder it made."""
    if _own_multiproc_dir is not None:
        shutil.rmtree(_own_multiproc_dir, ignore_errors=True)


def post_worker_init(worker: Any) -> None:
    """In each worker, its app built: the collector's passes skip what start-up made."""
    freeze_startup_objects()


def on_starting(server: Any) -> None:
    """In the master, once gunicorn set up its logging: our format for its lines."""
    configure_logging(
        level=_settings.log_level,
        fmt=_settings.effective_log_format,
        service=f"{_settings.service_name}.gunicorn",
    )
