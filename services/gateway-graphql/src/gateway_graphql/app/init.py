"""Process initialisation shared by every entry point (gunicorn workers, runserver, shell)."""

from __future__ import annotations

from alvin_python_lib import telemetry
from alvin_python_lib.logging import configure_logging, get_logger
from gateway_graphql import __version__
from gateway_graphql.app.settings import Settings, get_settings


def init_app(process: str, settings: Settings | None = None) -> Settings:
    """Configure logging and tracing for ``process`` and return the settings.

    ``runserver`` (one process) also serves ``/metrics`` on ``metrics_port`` when it is set; under
    gunicorn the master does that for every worker (``app.gunicorn_config``).
    """
    settings = settings or get_settings()
    configure_logging(
        level=settings.log_level,
        fmt=settings.effective_log_format,
        service=f"{settings.service_name}.{process}",
    )
    telemetry.configure_telemetry(
        settings,
        service_name=settings.service_name,
        service_version=__version__,
        environment=settings.app_env,
        process=process,
    )
    if process == "runserver" and settings.metrics_port is not None:
        from alvin_python_lib.metrics import start_metrics_server  # noqa: PLC0415

        try:
            start_metrics_server(settings.metrics_port)
        except OSError as error:  # `runserver --reload`: the watching parent holds the port
            get_logger(__name__).warning(
                "metrics.port_busy", port=settings.metrics_port, error=str(error)
            )
    return settings
