"""What every process of a service does first: logging, then tracing, named after the process.

A service's entry points (server, worker, scheduler, ``manage``) call it once per process, before
they build anything::

    start_process(settings, process="grpc", service_version=__version__, celery=True)

Then the composition root builds the database, clients and id generator, and instruments the
engine (:func:`alvin_python_lib.telemetry.instrument_sqlalchemy`).
"""

from __future__ import annotations

from alvin_python_lib.config import BaseAppSettings
from alvin_python_lib.logging import configure_logging
from alvin_python_lib.telemetry import TelemetrySettings, configure_telemetry, instrument_celery

__all__ = ["start_process"]


def start_process(
    settings: BaseAppSettings,
    *,
    process: str,
    service_version: str,
    celery: bool = False,
) -> None:
    """Configure logging and tracing for one process of a service.

    Log lines carry ``service=<service_name>.<process>`` at ``settings.log_level`` in
    ``settings.effective_log_format``. When ``settings`` include :class:`TelemetrySettings`,
    tracing is set up from them (resource ``service.name``, ``service.version``,
    ``deployment.environment.name`` = ``app_env``, ``alvin.process.role`` = ``process``); with
    ``celery``, Celery tasks this process publishes or runs get spans too. Safe to call again
    (tests do): logging is replaced, the first tracing configuration stays.
    """
    configure_logging(
        level=settings.log_level,
        fmt=settings.effective_log_format,
        service=f"{settings.service_name}.{process}",
    )
    if isinstance(settings, TelemetrySettings):
        configure_telemetry(
            settings,
            service_name=settings.service_name,
            service_version=service_version,
            environment=settings.app_env,
            process=process,
        )
        if celery:
            instrument_celery()
